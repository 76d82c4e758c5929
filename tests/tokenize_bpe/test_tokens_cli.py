"""The commands as a new user meets them: --help, a misspelt mix key, a missing source, bpe → pack → shards."""

from __future__ import annotations

import json

import pytest
import yaml

from corpus_forge.cli import main


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_help_lists_every_option_with_its_default(capsys):
    out = _help(capsys, "bpe")
    for flag in ("--vocab-size", "--sample-bytes", "--seed", "--pattern", "--trainer", "--reference", "--out"):
        assert flag in out
    assert "32768" in out
    out = _help(capsys, "pack")
    for flag in ("--tokenizer", "--mix", "--out", "--scheduler"):
        assert flag in out
    assert "verify" in _help(capsys, "shards")


def test_a_misspelt_mix_key_is_one_clear_error(tmp_path, tokenizer_dir, text_dir, capsys):
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"mixes": {"web": {"tokens": 1000, "sources": [
        {"path": str(text_dir / "wiki"), "wieght": 1.0}]}}}))
    rc = main(["pack", "--tokenizer", str(tokenizer_dir), "--mix", str(mix), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "mixes.web.sources.0.wieght: unknown key" in err
    assert not (tmp_path / "out").exists()


def test_a_missing_source_fails_before_any_work(tmp_path, tokenizer_dir, text_dir, capsys):
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"mixes": {"curated": {"sources": [
        {"path": str(text_dir / "wiki"), "weight": 0.8}, {"path": str(tmp_path / "no-such-books"), "weight": 0.2}]}}}))
    rc = main(["pack", "--tokenizer", str(tokenizer_dir), "--mix", str(mix), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "mix 'curated', source 'no-such-books'" in err and "not found" in err
    assert not (tmp_path / "out").exists()


def test_bpe_then_pack_then_shards_from_the_command_line(tmp_path, text_dir, dask_client, capsys):
    sched = ["--scheduler", dask_client.scheduler.address, "--no-progress"]
    tok = tmp_path / "tok"
    rc = main(["bpe", str(text_dir / "books"), str(text_dir / "wiki"), "--out", str(tok), "--vocab-size", "700",
               "--sample-bytes", "400000", "--heldout-bytes", "50000", *sched])
    assert rc == 0 and (tok / "tokenizer.json").exists() and (tok / "tokenizer.tiktoken").exists()
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"seed": 1, "shard_tokens": 20000, "mixes": {"demo": {
        "tokens": 60000, "val_fraction": 0.1,
        "sources": [{"path": str(text_dir / "wiki"), "weight": 0.5},
                    {"path": str(text_dir / "nonlatin.jsonl"), "weight": 0.5}]}}}))
    packed = tmp_path / "packed"
    rc = main(["pack", "--tokenizer", str(tok), "--mix", str(mix), "--out", str(packed), *sched])
    assert rc == 0
    manifest = json.loads((packed / "demo" / "manifest.json").read_text())
    assert manifest["command"].startswith("corpus-forge") and manifest["mix_file"] == str(mix)
    capsys.readouterr()
    assert main(["shards", "stats", str(packed)]) == 0
    assert "nonlatin" in capsys.readouterr().out
    assert main(["shards", "verify", str(packed)]) == 0
    assert "ok" in capsys.readouterr().out
    shard = packed / "demo" / "train-00000.bin"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0x80
    shard.write_bytes(bytes(data))
    assert main(["shards", "verify", str(packed)]) == 1
    assert "train-00000.bin: sha256" in capsys.readouterr().err

"""Our shards carry exactly llm.c's two headers, and the readers refuse any other.

The checks below are the ones llm.c makes when it opens a shard: ``llmc/dataloader.h``
(``dataloader_load_shard_``: ``header[0] != 20240520`` "Bad magic", ``header[1] != 1`` "Bad version",
``ntok > 0``, file size == 256 * 4 + ntok * sizeof(uint16_t)) for the GPT-2 header, and the same checks with
magic 20240801, version 7 and 4-byte tokens for the LLaMA-3 header that ``dev/data/data_common.py`` writes
(``HEADERS_INFO["llama-3"]``, read by llm.c's ``train_llama3.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tokens_helpers import jsonl_texts

from tokenize_bpe.encode import load_encoder
from tokenize_bpe.shards import ShardError, open_tokens, read_header, version_for_vocab, write_shard

# (magic, version, bytes per token) as in llm.c's HEADERS_INFO
LLMC = {"gpt-2": (20240520, 1, 2), "llama-3": (20240801, 7, 4)}


def llmc_accepts(path: Path, model_desc: str) -> tuple[bool, str]:
    """llm.c's shard check (dataloader.h), for the header ``model_desc``: (accepted, llm.c's message)."""
    magic, version, size = LLMC[model_desc]
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype="<i4")
        f.seek(0, 2)
        file_size = f.tell()
    if header[0] != magic:
        return False, "Bad magic in the data file"
    if header[1] != version:
        return False, "Bad version in data file"
    ntok = int(header[2])
    if not ntok > 0:
        return False, "assert(ntok > 0)"
    if file_size != 256 * 4 + ntok * size:
        return False, "Error: file size is not as expected"
    return True, ""


def _encode(tokenizer: Path) -> tuple[np.ndarray, np.ndarray, int]:
    enc = load_encoder(str(tokenizer))
    seqs = enc.encode_batch(jsonl_texts("nonlatin.jsonl"))
    tokens = np.concatenate([[enc.eot, *s] for s in seqs]).astype(np.int64)
    starts = np.cumsum([0] + [len(s) + 1 for s in seqs[:-1]]).astype(np.uint64)
    return tokens, starts, enc.vocab_size


@pytest.mark.parametrize(("tokenizer", "model_desc"), [("tokenizer_dir", "gpt-2"), ("wide_tokenizer_dir", "llama-3")])
def test_llmc_accepts_our_shard_and_reads_our_tokens(request, tmp_path, tokenizer, model_desc):
    tokens, starts, vocab = _encode(request.getfixturevalue(tokenizer))
    path = tmp_path / "train-00000.bin"
    write_shard(path, tokens, starts, version_for_vocab(vocab))
    assert llmc_accepts(path, model_desc) == (True, "")
    other = "llama-3" if model_desc == "gpt-2" else "gpt-2"
    assert not llmc_accepts(path, other)[0]  # and exactly that header: the other one's check says no
    size = LLMC[model_desc][2]
    assert np.array_equal(np.fromfile(path, dtype=f"<u{size}", offset=1024), tokens)
    assert np.array_equal(open_tokens(path), tokens) and read_header(path).name == model_desc


def test_vocab_sizes_pick_the_header_at_65536():
    assert version_for_vocab(50_257) == 1 and version_for_vocab(65_536) == 1  # ids 0..65,535 fit in uint16
    assert version_for_vocab(65_537) == 7 and version_for_vocab(128_256) == 7  # LLaMA-3's 128k


def _hand_written(path: Path, magic: int, version: int, tokens: np.ndarray) -> Path:
    header = np.zeros(256, dtype="<i4")
    header[:3] = (magic, version, tokens.size)
    path.write_bytes(header.tobytes() + tokens.tobytes())
    return path


@pytest.mark.parametrize(("magic", "version", "dtype"), [
    (20240520, 2, "<u4"),  # what this project used to write: a version 2 that exists nowhere in llm.c
    (20240801, 1, "<u2"),  # a LLaMA-3 magic with the GPT-2 version
    (20240522, 1, "<u2"),  # llm.c's eval-file magic (HellaSwag), not a token shard
])
def test_any_other_header_is_refused_with_one_line_naming_the_file(tmp_path, magic, version, dtype):
    path = _hand_written(tmp_path / "train-00000.bin", magic, version, np.arange(10, dtype=dtype))
    for read in (read_header, open_tokens):
        with pytest.raises(ShardError) as err:
            read(path)
        msg = str(err.value)
        assert str(path) in msg and len(msg.splitlines()) == 1 and f"magic {magic} version {version}" in msg
    with pytest.raises(ShardError, match="version 2"):
        write_shard(tmp_path / "w.bin", np.arange(3), np.zeros(1, np.uint64), 2)


def test_shards_verify_names_a_shard_with_the_old_made_up_header(tmp_path, tokenizer_dir):
    import json

    tokens, starts, vocab = _encode(tokenizer_dir)
    mix = tmp_path / "m"
    mix.mkdir()
    sha = write_shard(mix / "train-00000.bin", tokens, starts, 1)
    rec = {"split": "train", "file": "train-00000.bin", "tokens": int(tokens.size), "documents": int(starts.size),
           "sha256": sha, "tokens_per_source": {"pages": int(tokens.size)}, "head_source": None}
    manifest = {"mix": "m", "version": 1, "train_tokens": int(tokens.size), "val_tokens": 0, "shards": [rec],
                "sources": [{"name": "pages"}], "tokenizer": {"path": str(tokenizer_dir), "eot_id": vocab - 1}}
    (mix / "manifest.json").write_text(json.dumps(manifest))
    cmd = [sys.executable, "-m", "corpus_forge.cli", "shards", "verify", str(mix)]
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0
    _hand_written(mix / "train-00000.bin", 20240520, 2, tokens.astype("<u4"))
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1
    assert [ln for ln in r.stderr.splitlines() if "train-00000.bin" in ln and "magic 20240520 version 2" in ln]

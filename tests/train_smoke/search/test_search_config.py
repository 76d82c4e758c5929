"""A bad search file fails before any work, exit 2, with one line naming the key or the path."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_helpers import make_eval, make_sources, make_tokenizer, write_search

from corpus_forge.cli import main as cli


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("cfg")
    return {"root": root, "tok": make_tokenizer(root / "tok"), "src": make_sources(root / "src"),
            "eval": make_eval(root / "eval")}


def _run(spec: Path, out: Path, capsys) -> tuple[int, str]:
    code = cli(["mix", "search", str(spec), "--out", str(out), "--no-progress"])
    return code, capsys.readouterr().err.strip()


def test_a_misspelt_key_is_named(parts, capsys):
    spec = write_search(parts["root"] / "a.yaml", parts["tok"], parts["src"], parts["eval"], proxys=8)
    code, err = _run(spec, parts["root"] / "out-a", capsys)
    assert code == 2 and "proxys: unknown key" in err and len(err.splitlines()) == 1
    assert not (parts["root"] / "out-a").exists()


def test_a_missing_source_is_named_before_any_work(parts, capsys):
    src = {**parts["src"], "books": parts["root"] / "no-such-books"}
    spec = write_search(parts["root"] / "b.yaml", parts["tok"], src, parts["eval"])
    code, err = _run(spec, parts["root"] / "out-b", capsys)
    assert code == 2 and "sources.books" in err and "no-such-books" in err
    assert not (parts["root"] / "out-b").exists()


def test_a_tokenizer_folder_without_its_files_is_named(parts, capsys):
    empty = parts["root"] / "empty-tok"
    empty.mkdir()
    spec = write_search(parts["root"] / "c.yaml", empty, parts["src"], parts["eval"])
    code, err = _run(spec, parts["root"] / "out-c", capsys)
    assert code == 2 and "mix-search.tokenizer" in err and "tokenizer.json" in err


def test_one_source_is_not_a_mixture(parts, capsys):
    spec = write_search(parts["root"] / "d.yaml", parts["tok"], {"web": parts["src"]["web"]}, parts["eval"],
                        bounds={})
    code, err = _run(spec, parts["root"] / "out-d", capsys)
    assert code == 2 and "at least two sources" in err

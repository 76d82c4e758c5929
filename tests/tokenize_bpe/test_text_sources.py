"""corpus_forge.text_sources: one reader for stage outputs, Parquet, JSONL and plain text (real files)."""

from __future__ import annotations

import gzip
import json
import lzma

import pytest

from corpus_forge.io import InputError
from corpus_forge.schema import stable_id
from corpus_forge.text_sources import iter_documents, read_documents, source_label, text_files


def _docs(inputs):
    batches = iter_documents([str(x) for x in inputs])
    return [(i, t, b.source) for b in batches for i, t in zip(b.ids, b.texts, strict=True)]


def test_stage_output_folder_gives_its_parts_ids_and_texts(stage_dir):
    docs = _docs([stage_dir])
    # 10 documents in each of the two Dolma files (see tests/data/text/SOURCES.md)
    assert len(docs) == 20
    assert docs[0][0].startswith("http://")  # the Dolma id (a URL) is kept as the document id
    assert all(t for _, t, _ in docs)


def test_jsonl_gz_keeps_ids_and_text_field(text_dir):
    path = text_dir / "cc_en_head-0091.jsonl.gz"
    rows = [json.loads(x) for x in gzip.decompress(path.read_bytes()).decode().splitlines()]
    docs = _docs([path])
    assert [d[0] for d in docs] == [r["id"] for r in rows]
    assert [d[1] for d in docs] == [r["text"] for r in rows]
    assert {d[2] for d in docs} == {str(path)}


def test_txt_file_is_one_document_with_a_content_id_the_same_wherever_it_lies(text_dir, tmp_path):
    path = text_dir / "books" / "carroll-alice.txt.gz"
    ((doc_id, text, _),) = _docs([path])
    assert doc_id == stable_id("txt", text)
    assert text.startswith("[ Alice 's Adventures in Wonderland by Lewis Carroll 1865 ]\nCHAPTER I.")
    moved = tmp_path / "elsewhere" / "alice.txt.gz"  # another checkout, another machine: same id, same mix
    moved.parent.mkdir()
    moved.write_bytes(path.read_bytes())
    assert _docs([moved])[0][0] == doc_id


def test_folder_of_text_files_skips_other_files(text_dir, tmp_path):
    (tmp_path / "LICENSE").write_text("not a document")
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "b.jsonl").write_text('{"text": "second"}\n\n{"text": "third", "id": 7}\n')
    docs = _docs([tmp_path])
    assert [t for _, t, _ in docs] == ["first", "second", "third"]
    assert docs[1][0] == stable_id("second") and docs[2][0] == "7"  # content id when there is no id


def test_compressed_jsonl_variants_read_the_same(tmp_path):
    lines = '{"text": "Καλημέρα κόσμε"}\n{"text": "مرحبا"}\n'
    (tmp_path / "x.jsonl.xz").write_bytes(lzma.compress(lines.encode()))
    assert [t for _, t, _ in _docs([tmp_path / "x.jsonl.xz"])] == ["Καλημέρα κόσμε", "مرحبا"]


def test_errors_name_the_file_and_line(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: no string field 'text'"):
        list(read_documents(str(tmp_path / "bad.jsonl")))
    with pytest.raises(InputError, match="not found"):
        text_files([str(tmp_path / "missing.jsonl")])
    (tmp_path / "table.csv").write_text("a,b\n")
    with pytest.raises(InputError, match=r"table\.csv"):
        text_files([str(tmp_path / "table.csv")])


def test_source_label_is_the_name_without_extensions():
    assert source_label("data/books/") == "books"
    assert source_label("x/cc_en_head-0091.jsonl.gz") == "cc_en_head-0091"

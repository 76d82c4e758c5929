"""The karma table's lookup index (review row 12): memory-mapped ``.npy`` written at build time, the same
decisions as the whole table read into a dict, and an index built once per node for tables of older builds."""

from __future__ import annotations

import json
import lzma
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import filters.karma_table as kt
from corpus_forge import cache
from corpus_forge.runner import run_stage
from filters.support.url_normalize import normalize_url
from filters.url_filters import KarmaFilter
from pipelines.karma import KarmaBuildStage

DATA = Path(__file__).parent.parent / "data" / "karma"
DUMPS_2005 = [str(DATA / "RS_v2_2005-06.xz"), str(DATA / "RS_v2_2005-07.xz")]


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory: pytest.TempPathFactory, dask_client) -> Path:
    out = tmp_path_factory.mktemp("karma_index")
    run_stage(KarmaBuildStage(), DUMPS_2005, str(out), client=dask_client, progress=False)
    return out


def whole_table(out: Path) -> dict[str, int]:
    """The table as the old loader read it: every row to Python (url → karma)."""
    t = pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("karma-part-*.parquet"))])
    return dict(zip(t["url"].to_pylist(), t["karma"].to_pylist(), strict=True))


def dump_urls() -> list[str | None]:
    """Every post URL of both real dumps (the raw field, as a crawler might see it), plus the pages' URLs."""
    urls: list[str | None] = []
    for path in DUMPS_2005:
        urls += [json.loads(line).get("url") for line in lzma.open(path, "rt", encoding="utf-8")]
    return urls + (DATA / "real_urls.txt").read_text().splitlines() + [None, ""]


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CORPUS_FORGE_CACHE", str(tmp_path / "node-cache"))
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize("min_karma", [3, 10])
def test_decisions_equal_the_whole_table_for_every_url_in_the_dumps(table_dir: Path, min_karma: int) -> None:
    ref = whole_table(table_dir)
    urls = dump_urls()
    keys = [normalize_url(u) for u in urls]
    expected = np.array([ref.get(k, -1) if k is not None else -1 for k in keys])
    assert len(urls) > 2500 and (expected >= 3).sum() > 700  # hits and misses both
    table = kt.load_karma_table(str(table_dir))
    assert np.array_equal(table.lookup_keys(keys), expected)
    assert np.array_equal(table.lookup_keys(list(ref)), np.array(list(ref.values())))  # every table URL
    flt = KarmaFilter(table=str(table_dir), min_karma=min_karma)
    res = flt.filter_table(pa.table({"id": [str(i) for i in range(len(urls))], "url": urls}))
    assert res.keep.tolist() == (expected >= min_karma).tolist()
    assert res.columns["karma"].to_pylist() == [int(k) if k >= 0 else None for k in expected]
    assert [flt.url_decision(u)[0] is None for u in urls[:300]] == (expected[:300] >= min_karma).tolist()


def test_the_index_is_memory_mapped_and_the_parquet_rows_are_not_read(table_dir: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the table's rows were read")

    monkeypatch.setattr(kt, "index_from_parquet", refuse)
    monkeypatch.setattr(pq, "read_table", refuse)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", refuse)
    table = kt.load_karma_table(str(table_dir))
    assert len(table) == 833 and table.min_karma == 3 and len(table.parts) == 2
    assert table.routed  # part i holds bucket i of 2: each key is looked up in its one part
    for hashes, karma in table.parts:
        assert isinstance(hashes, np.memmap) and isinstance(karma, np.memmap)
        assert Path(hashes.filename).parent == table_dir and hashes.filename.endswith(".hash.npy")
        assert hashes.dtype == np.uint64 and np.all(np.diff(hashes.astype(np.float64)) >= 0)
    assert table.get("paulgraham.com/nerds.html") == 26
    assert all(isinstance(h, np.memmap) for h, _ in table.parts)  # lookups did not copy them into memory
    assert len(list(table_dir.glob("karma-part-*.npy"))) == 4  # one hash and one karma file per part


def older_build(table_dir: Path, dest: Path) -> Path:
    """The table as a build before the index wrote it: the same parts, no ``index`` metadata, no ``.npy``."""
    dest.mkdir()
    for p in sorted(table_dir.glob("karma-part-*.parquet")):
        t = pq.read_table(p)
        meta = json.loads(t.schema.metadata[kt.META_KEY])
        del meta["index"]
        pq.write_table(t.replace_schema_metadata({kt.META_KEY: json.dumps(meta).encode()}), dest / p.name)
    return dest


def test_a_table_of_an_older_build_is_indexed_once_per_node(table_dir: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    old = older_build(table_dir, tmp_path / "old")
    before = sorted(p.name for p in old.iterdir())
    keys = [normalize_url(u) for u in dump_urls()]
    table = kt.load_karma_table(str(old))
    assert not table.routed  # nothing says which bucket a part holds: every part is searched
    assert np.array_equal(table.lookup_keys(keys), kt.load_karma_table(str(table_dir)).lookup_keys(keys))
    assert sorted(p.name for p in old.iterdir()) == before  # the table was not written to
    cached_files = sorted((tmp_path / "node-cache").glob("*.npy"))
    assert len(cached_files) == 4 and all(isinstance(h, np.memmap) for h, _ in table.parts)
    # another process on the node (a fresh process cache) maps the node's copy: the Parquet is not read again
    cache.clear()
    monkeypatch.setattr(kt, "index_from_parquet", lambda f: (_ for _ in ()).throw(AssertionError(f)))
    again = kt.load_karma_table(str(old))
    assert again is not table and np.array_equal(again.lookup_keys(keys), table.lookup_keys(keys))


def test_a_part_replaced_by_another_builds_part_never_meets_a_stale_index(table_dir: Path, tmp_path: Path) -> None:
    """Only the index named by the part's digest is used: a part swapped in without its index gets one built."""
    t = tmp_path / "t"
    shutil.copytree(table_dir, t)
    first = sorted(t.glob("karma-part-*.parquet"))[0]
    rows = pq.read_table(first)
    fewer = rows.slice(0, rows.num_rows // 2)
    meta = json.loads(rows.schema.metadata[kt.META_KEY])
    meta["index"]["digest"] = "0" * 16  # names an index that is not there
    pq.write_table(fewer.replace_schema_metadata({kt.META_KEY: json.dumps(meta).encode()}), first)
    table = kt.load_karma_table(str(t))
    assert len(table) == 833 - rows.num_rows + fewer.num_rows
    gone = rows["url"].to_pylist()[fewer.num_rows :]
    assert (table.lookup_keys(gone) == -1).all()


def test_url_hashes_and_buckets_of_one_key_equal_the_vectorised_ones() -> None:
    import xxhash

    urls = ["", "a", "paulgraham.com/nerds.html", "ünïcode.example/ß", "x" * 5000, None]
    arr = pa.chunked_array([pa.array(urls[:3]), pa.array(urls[3:])]).slice(1)
    expected = [xxhash.xxh3_64_intdigest((u or "").encode()) for u in urls[1:]]
    assert kt.url_hashes(arr).tolist() == expected
    assert kt.key_hashes([u or "" for u in urls[1:]]).tolist() == expected
    keys = [normalize_url(u) for u in dump_urls()]
    keys = [k for k in keys if k is not None] + ["", "x" * 7, "y" * 8, "z" * 9, "s" * 24, "t" * 25]
    for n in (2, 5, 64):
        assert [kt.url_bucket(k, n) for k in keys] == kt.url_buckets(pa.array(keys), n).tolist()


def test_a_table_of_many_buckets_looks_each_key_up_in_its_own_part(table_dir: Path, tmp_path: Path) -> None:
    """The same table cut into 8 buckets (as an 8-worker build would write it): routed lookups, the same karma."""
    ref = whole_table(table_dir)
    t = pa.table({"url": list(ref), "karma": list(ref.values())}, schema=pa.schema([("url", pa.string()),
                                                                                   ("karma", pa.int64())]))
    bucket = kt.url_buckets(t["url"], 8)
    for b in range(8):
        part = t.filter(pa.array(bucket == b)).sort_by("url")
        path = str(tmp_path / kt.part_name(b))
        index = kt.write_index(path, *kt.sorted_index(part["url"], part["karma"].to_numpy()), b, 8)
        pq.write_table(part.replace_schema_metadata({kt.META_KEY: json.dumps({"index": index}).encode()}), path)
    table = kt.load_karma_table(str(tmp_path))
    assert table.routed and len(table.parts) == 8 and len(table) == len(ref)
    keys = [normalize_url(u) for u in dump_urls()] + list(ref)
    expected = [ref.get(k, -1) if k is not None else -1 for k in keys]
    assert table.lookup_keys(keys).tolist() == expected
    assert [table.get(k) for k in keys] == [None if e < 0 else e for e in expected]

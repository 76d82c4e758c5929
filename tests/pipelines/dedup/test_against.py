"""Incremental snapshots (#21 item 4): snapshot B deduplicated against snapshot A's dedup output keeps what
deduplicating A's output and B together keeps of B, when A's copies win, and never touches A's folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dedup_helpers import delete_block, substitute, true_jaccard
from test_dedup import doc, read_out, run, write_parts

from corpus_forge.config import ConfigError
from pipelines.dedup import DedupStage


def folder_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def snapshots(articles, tmp_path_factory):
    """A: 25 real articles plus an edited copy of one (removed within A). B: exact and edited re-crawls of A's
    pages, one far edit, a re-crawl of A's removed copy, 15 new articles and an edited copy of one of them."""
    t = [a["text"] for a in articles]
    a_rows = [doc(f"A{i:02d}", t[i], snapshot=0) for i in range(25)]
    a_rows.append(doc("A-copy0", substitute(t[0], 80, seed=9), quality_score=0.1, snapshot=0))
    b_rows = [doc(f"B-same{i}", t[i], snapshot=1) for i in (1, 2, 3)]  # exact re-crawls
    b_rows += [doc("B-sub4", substitute(t[4], 100, seed=4), snapshot=1),
               doc("B-cut5", delete_block(t[5], 0.1), snapshot=1),
               doc("B-far6", substitute(t[6], 12, seed=6), snapshot=1),  # rewritten: a new page
               doc("B-copy0", a_rows[-1]["text"], snapshot=1)]  # A removed this text as a near copy of A00
    b_rows += [doc(f"B{i:02d}", t[i], snapshot=1) for i in range(25, 40)]
    b_rows.append(doc("B-cut30", delete_block(t[30], 0.05), quality_score=0.1, snapshot=1))
    # the fixture itself: near copies well above the 0.7 threshold, the far edit well below
    assert min(true_jaccard(t[4], b_rows[3]["text"]), true_jaccard(t[5], b_rows[4]["text"]),
               true_jaccard(t[0], b_rows[6]["text"]), true_jaccard(t[30], b_rows[-1]["text"])) > 0.8
    assert true_jaccard(t[6], b_rows[5]["text"]) < 0.5
    root = tmp_path_factory.mktemp("snap")
    return write_parts(a_rows, root / "A-in", 3), write_parts(b_rows, root / "B-in", 4), root


def test_b_against_a_keeps_what_a_union_b_keeps_of_b_and_leaves_a_untouched(snapshots, dask_client, tmp_path):
    a_in, b_in, _ = snapshots
    a_out = tmp_path / "A"
    run(a_in, a_out, dask_client)
    before = folder_digest(a_out)
    a_kept = {r["id"] for r in read_out(a_out)[0]}
    assert "A-copy0" not in a_kept and len(a_kept) == 25

    stats = run(b_in, tmp_path / "B", dask_client, against=[str(a_out)])
    assert folder_digest(a_out) == before  # A's folder: same files, same bytes
    kept, removed = read_out(tmp_path / "B")
    by_id = {r["id"]: r for r in removed}
    assert stats["removed"] == {"duplicate_of_prior": 6, "near_duplicate": 1}
    assert stats["documents_in"] == stats["documents_out"] + 7 == 23
    assert stats["against"] == [str(a_out)] and stats["dedup"]["against"]["documents"] == 25
    for rid, prior in (("B-same1", "A01"), ("B-sub4", "A04"), ("B-cut5", "A05"), ("B-copy0", "A00")):
        assert by_id[rid]["reason"] == "duplicate_of_prior" and by_id[rid]["dup_of"] == prior
    assert by_id["B-cut30"]["reason"] == "near_duplicate" and by_id["B-cut30"]["dup_of"] == "B30"

    # the reference: A's output and B deduplicated together, A's copies first
    both = tmp_path / "A+B"
    both.mkdir()
    for i, p in enumerate(sorted(a_out.glob("part-*.parquet"))):
        t = pq.read_table(p)
        pq.write_table(t.set_column(t.schema.get_field_index("snapshot"), "snapshot",
                                    pa.array([0] * t.num_rows, pa.int64())), both / f"part-a{i}.parquet")
    for i, p in enumerate(sorted(b_in.glob("part-*.parquet"))):
        pq.write_table(pq.read_table(p), both / f"part-b{i}.parquet")
    run(both, tmp_path / "ref", dask_client, keep_order=["snapshot", "-quality_score", "crawl_date", "id"])
    ref_kept_b = {r["id"] for r in read_out(tmp_path / "ref")[0] if r["snapshot"] == 1}
    assert {r["id"] for r in kept} == ref_kept_b
    assert "B-far6" in ref_kept_b and "B25" in ref_kept_b


def test_a_chain_of_snapshots_and_the_signatures_kept_beside_the_output(snapshots, dask_client, tmp_path):
    a_in, b_in, _ = snapshots
    run(a_in, tmp_path / "A", dask_client)
    run(b_in, tmp_path / "B", dask_client, against=[str(tmp_path / "A")])
    # B again, as a third snapshot C, against both: everything in it is already kept by A or B
    stats = run(b_in, tmp_path / "C", dask_client, against=[str(tmp_path / "A"), str(tmp_path / "B")])
    assert stats["documents_out"] == 0 and stats["removed"] == {"duplicate_of_prior": 23}
    # B's signatures describe exactly B's kept documents, row by row
    kept = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "B").glob("part-*.parquet"))])
    metas = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "B" / "signatures").glob("*.meta.parquet"))])
    assert sorted(metas.column("id").to_pylist()) == sorted(kept.column("id").to_pylist())


def test_a_prior_hashed_otherwise_or_not_a_dedup_output_is_refused(snapshots, dask_client, tmp_path):
    a_in, b_in, _ = snapshots
    run(a_in, tmp_path / "A", dask_client, ngram=3)
    with pytest.raises(ConfigError, match=r"dedup.against\[0\].*ngram=3"):
        DedupStage.from_options({"against": [str(tmp_path / "A")]}).check()
    with pytest.raises(ConfigError, match=r"dedup.against\[0\].*not a finished dedup output"):
        DedupStage.from_options({"against": [str(b_in)]}).check()

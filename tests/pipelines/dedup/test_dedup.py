"""The dedup stage end to end on real articles with planted duplicates, on a real LocalCluster."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dedup_helpers import DATA, add_boilerplate, delete_block, substitute, true_jaccard

from corpus_forge.config import ConfigError
from corpus_forge.runner import run_stage
from pipelines.dedup import DedupStage, histogram, rank_keys


def write_parts(rows: list[dict], out: Path, n_files: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        chunk = rows[i::n_files]
        pq.write_table(pa.Table.from_pylist(chunk), out / f"part-{i:02d}.parquet")
    return out


def read_out(out: Path) -> tuple[list[dict], list[dict]]:
    kept = pa.concat_tables([pq.read_table(p) for p in sorted(glob.glob(str(out / "part-*.parquet")))])
    rem_files = sorted(glob.glob(str(out / "removed" / "*.parquet")))
    removed = pa.concat_tables([pq.read_table(p) for p in rem_files]).to_pylist() if rem_files else []
    return kept.to_pylist(), removed


def doc(i: str, text: str, **meta) -> dict:
    return {"id": i, "text": text, "url": None, "source": "aeb", "quality_score": 0.5,
            "crawl_date": "2024-01-01", **meta}


@pytest.fixture(scope="module")
def planted(articles, tmp_path_factory):
    """40 real articles + planted copies at measured Jaccard, spread over 3 files."""
    rows = [doc(f"a{i:02d}", a["text"], url=a["url"]) for i, a in enumerate(articles)]
    plants = {  # name -> (original index, text, expected)
        "exact_ws": (0, "  " + articles[0]["text"].upper().replace(" ", "  ") + "!", "exact"),
        "sub100": (1, substitute(articles[1]["text"], 100, seed=1), "near"),
        "cut10": (2, delete_block(articles[2]["text"], 0.10), "near"),
        "boiler": (3, add_boilerplate(articles[3]["text"], 20), "near"),
        "sub12": (4, substitute(articles[4]["text"], 12, seed=4), "kept"),
        "cut60": (5, delete_block(articles[5]["text"], 0.60, start=0.2), "kept"),
    }
    jac = {k: true_jaccard(articles[i]["text"], t) for k, (i, t, _) in plants.items()}
    # the fixture itself: near copies well above the LSH threshold, far ones well below it
    assert all(jac[k] >= 0.85 for k, v in plants.items() if v[2] == "near"), jac
    assert all(jac[k] <= 0.5 for k, v in plants.items() if v[2] == "kept"), jac
    for k, (_i, t, _) in plants.items():
        rows.append(doc(f"p-{k}", t, quality_score=0.1))
    # rows[i::3] puts a plant in a different file than its original for most pairs
    src = write_parts(rows, tmp_path_factory.mktemp("in"), 3)
    return src, plants, jac


def run(src: Path, out: Path, client, **opts) -> dict:
    return run_stage(DedupStage.from_options(opts), [str(src)], str(out), client=client, keep_removed=True,
                     progress=False)


def test_planted_duplicates_removed_above_threshold_kept_below(planted, dask_client, tmp_path):
    src, plants, _jac = planted
    stats = run(src, tmp_path / "out", dask_client)
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["removed"].values()) == 46
    kept, removed = read_out(tmp_path / "out")
    by_id = {r["id"]: r for r in removed}
    assert set(by_id) == {f"p-{k}" for k, v in plants.items() if v[2] != "kept"}
    assert by_id["p-exact_ws"]["reason"] == "exact_duplicate"
    for k in ("sub100", "cut10", "boiler"):
        assert by_id[f"p-{k}"]["reason"] == "near_duplicate"
        assert by_id[f"p-{k}"]["dup_of"] == f"a{plants[k][0]:02d}"  # quality 0.5 beats 0.1
        assert by_id[f"p-{k}"]["dup_cluster"] == f"a{plants[k][0]:02d}"
    assert stats["removed"] == {"exact_duplicate": 1, "near_duplicate": 3}
    # the kept originals head their clusters; documents in no cluster have null dup_cluster
    kept_by_id = {r["id"]: r for r in kept}
    assert kept_by_id["a01"]["dup_cluster"] == "a01" and kept_by_id["a10"]["dup_cluster"] is None
    assert "dup_of" in kept_by_id["a01"] and kept_by_id["a01"]["dup_of"] is None
    d = stats["dedup"]
    assert d["clusters"] == 4 and d["cluster_size_histogram"] == {"2": 4}
    # files 0,1,2 hold rows i::3: a01 (row 1) is in file 1, p-sub100 (row 42) in file 0
    assert os.path.exists(tmp_path / "out" / "_SUCCESS")


def test_rerun_skips_and_gives_the_same_documents(planted, dask_client, tmp_path):
    src, _, _ = planted
    first = run(src, tmp_path / "out", dask_client)
    ids_first = sorted(r["id"] for r in read_out(tmp_path / "out")[0])
    mtime = os.path.getmtime(tmp_path / "out" / "_work" / "summary.json")
    second = run(src, tmp_path / "out", dask_client)
    assert os.path.getmtime(tmp_path / "out" / "_work" / "summary.json") == mtime
    assert sorted(r["id"] for r in read_out(tmp_path / "out")[0]) == ids_first
    assert first["removed"] == second["removed"]


def test_keeper_rule_quality_then_date_then_id(articles, dask_client, tmp_path):
    t = articles[7]["text"]
    rows = [
        doc("z-best-quality", t + " ", quality_score=0.9, crawl_date="2024-05-01"),
        doc("b-low", t, quality_score=0.2, crawl_date="2020-01-01"),
        doc("c-no-quality", t, quality_score=None, crawl_date="2019-01-01"),
        doc("y-tie-early", t.upper(), quality_score=0.7, crawl_date="2021-01-01"),
        doc("x-tie-late", t, quality_score=0.7, crawl_date="2023-01-01"),
    ] + [doc(f"o{i}", a["text"]) for i, a in enumerate(articles[10:16])]
    src = write_parts(rows, tmp_path / "in", 2)
    run(src, tmp_path / "out1", dask_client)
    _kept, removed = read_out(tmp_path / "out1")
    assert {r["dup_of"] for r in removed} == {"z-best-quality"} and len(removed) == 4
    # without quality_score in the rule: earliest crawl_date wins
    run(src, tmp_path / "out2", dask_client, keep_order=["crawl_date", "id"])
    assert {r["dup_of"] for r in read_out(tmp_path / "out2")[1]} == {"c-no-quality"}
    # ids only: the smallest id
    run(src, tmp_path / "out3", dask_client, keep_order=["id"])
    assert {r["dup_of"] for r in read_out(tmp_path / "out3")[1]} == {"b-low"}


def test_rank_keys_order_numbers_dates_and_nulls():
    t = pa.table({"id": ["a", "b", "c", "d"], "quality_score": [0.5, None, 2.0, -1.0],
                  "crawl_date": ["2024", "2020", None, "2021"]})
    keys = rank_keys(t, ["-quality_score", "crawl_date", "id"])
    assert [t["id"][i].as_py() for i in sorted(range(4), key=keys.__getitem__)] == ["c", "a", "d", "b"]
    keys = rank_keys(t, ["crawl_date"])
    assert [t["id"][i].as_py() for i in sorted(range(4), key=keys.__getitem__)] == ["b", "d", "a", "c"]
    with pytest.raises(ValueError, match="numeric or date"):
        rank_keys(t, ["-crawl_date"])


def test_clough_stevenson_cut_answers_found_independent_answers_kept(dask_client, tmp_path):
    """Clough & Stevenson short answers vs their Wikipedia sources (see SOURCES.md)."""
    import csv

    cs = DATA / "clough_stevenson"
    with open(cs / "file_information.csv", encoding="utf-8") as f:
        info = [r for r in csv.DictReader(f) if r["Category"] != "orig"]
    texts = {r["File"]: (cs / r["File"]).read_bytes().decode("cp1252", "replace") for r in info}
    for task in "abcde":
        texts[f"orig_task{task}.txt"] = (cs / f"orig_task{task}.txt").read_bytes().decode("cp1252", "replace")
    names = sorted(texts)
    rows = [doc(n, texts[n], quality_score=1.0 if n.startswith("orig") else 0.5) for n in names]
    src = write_parts(rows, tmp_path / "in", 2)
    stats = run(src, tmp_path / "out", dask_client)
    assert stats["documents_in"] == len(names) == stats["documents_out"] + sum(stats["removed"].values())
    removed = {r["id"]: r for r in read_out(tmp_path / "out")[1]}
    # computed independently: each answer's Jaccard with its task's source text
    cat = {r["File"]: r["Category"] for r in info}
    j_src = {r["File"]: true_jaccard(texts[r["File"]], texts[f"orig_task{r['Task']}.txt"]) for r in info}
    for name, j in j_src.items():
        if j >= 0.85:
            assert removed[name]["dup_of"].startswith("orig_task"), (name, j)
        if cat[name] in ("non", "heavy"):
            assert name not in removed, (name, cat[name], j)
    # every removal has a true partner at >= 0.7 among all documents (precision with verification)
    for name in removed:
        assert max(true_jaccard(texts[name], texts[o]) for o in names if o != name) >= 0.7


def test_bad_options_name_the_key():
    with pytest.raises(ConfigError, match="bandz"):
        DedupStage.from_options({"bandz": 3})
    with pytest.raises(ConfigError, match="nothing to do"):
        DedupStage.from_options({"exact": False, "fuzzy": False})
    stage = DedupStage.from_options({"threshold": 0.8, "num_perm": 128})
    assert stage.config.band_rows() == (9, 13)  # datasketch MinHashLSH(0.8, 128) gives b=9, r=13


def test_histogram_bins():
    import numpy as np

    assert histogram(np.array([2, 2, 3, 7, 150, 5000])) == {"2": 2, "3": 1, "5-9": 1, "100-999": 1,
                                                              "1000-9999": 1}


def test_bucket_pairs_collapse_exact_duplicates_only_when_exact_dedup_runs():
    import pandas as pd

    from pipelines.dedup import bucket_pairs

    # one bucket: gids 5 and 9 are exact duplicates (hash 1), gid 7 differs (hash 2)
    df = pd.DataFrame({"key": [42, 42, 42, 8], "gid": [9, 5, 7, 100], "exact_hash": [1, 1, 2, 3]})
    pairs = lambda d: sorted(map(tuple, d[["u", "v"]].to_numpy().tolist()))  # noqa: E731
    assert pairs(bucket_pairs(df, True, 32, collapse_exact=True)) == [(5, 7)]
    assert pairs(bucket_pairs(df, True, 32, collapse_exact=False)) == [(5, 7), (5, 9), (7, 9)]
    # a bucket larger than max_bucket_pairs: a star from the smallest member plus a chain
    big = pd.DataFrame({"key": [1] * 5, "gid": [10, 11, 12, 13, 14], "exact_hash": range(5)})
    assert pairs(bucket_pairs(big, True, 3)) == [(10, 11), (10, 12), (10, 13), (10, 14), (11, 12), (12, 13),
                                                   (13, 14)]
    assert pairs(bucket_pairs(big, False, 3)) == [(10, 11), (10, 12), (10, 13), (10, 14)]


def test_exact_only_and_fuzzy_only(articles, dask_client, tmp_path):
    t = articles[20]["text"]
    rows = [doc("a", t), doc("b", t + " "), doc("c", substitute(t, 100, seed=2))] + [
        doc(f"o{i}", a["text"]) for i, a in enumerate(articles[21:25])]
    src = write_parts(rows, tmp_path / "in", 2)
    exact_only = run(src, tmp_path / "e", dask_client, fuzzy=False)
    assert exact_only["removed"] == {"exact_duplicate": 1}
    fuzzy_only = run(src, tmp_path / "f", dask_client, exact=False)
    # b is still removed (it is a near duplicate at Jaccard 1), reported by reason against its keeper
    assert sum(fuzzy_only["removed"].values()) == 2
    assert fuzzy_only["documents_in"] == fuzzy_only["documents_out"] + 2


def test_a_file_without_text_fails_alone_and_is_named(articles, dask_client, tmp_path):
    rows = [doc(f"o{i}", a["text"]) for i, a in enumerate(articles[:6])] + [doc("dup", articles[0]["text"])]
    src = write_parts(rows, tmp_path / "in", 2)
    pq.write_table(pa.table({"id": ["x"], "body": ["no text column"], "url": [None], "source": ["s"]}),
                   src / "part-99.parquet")
    stats = run(src, tmp_path / "out", dask_client)
    assert stats["partitions_failed"] == 1 and "part-99" in stats["failed_partitions"][0]["input"]
    assert stats["removed"] == {"exact_duplicate": 1}  # the good files are still deduplicated
    assert stats["documents_in"] == stats["documents_out"] + 1
    assert not os.path.exists(tmp_path / "out" / "_SUCCESS")


def test_distributed_components_path_gives_the_same_decisions(planted, dask_client, tmp_path):
    src, _, _ = planted
    mem = run(src, tmp_path / "mem", dask_client)
    dist = run(src, tmp_path / "dist", dask_client, components_in_memory_max=0)
    assert (mem["dedup"]["components_method"], dist["dedup"]["components_method"]) == (
        "in-memory", "large-small-star")
    decisions = lambda out: sorted((r["id"], r["dup_of"], r["reason"]) for r in read_out(out)[1])  # noqa: E731
    assert decisions(tmp_path / "mem") == decisions(tmp_path / "dist")
    assert len(decisions(tmp_path / "dist")) == 4

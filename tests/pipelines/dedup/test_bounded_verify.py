"""Verification reads each input file that holds candidates once, whatever the shuffle's partition count
(it used to group pairs by the first document's file and read every file either document came from, in every
task: scale.md row 4); the decisions do not depend on the partition count."""

from __future__ import annotations

from collections import Counter

import pytest
from dedup_helpers import delete_block, substitute, true_jaccard
from test_dedup import doc, read_out, run, write_parts

import pipelines.dedup.candidates as candidates
import pipelines.dedup.phases as phases


@pytest.fixture
def threads_client():
    """An in-process cluster, so the reads a task makes can be counted here."""
    from distributed import Client

    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as c:
        yield c


@pytest.fixture
def corpus(articles, tmp_path):
    rows = [doc(f"a{i:02d}", a["text"]) for i, a in enumerate(articles[:24])]
    rows += [doc(f"p{i:02d}", substitute(articles[i]["text"], 60, seed=i), quality_score=0.1) for i in range(0, 24, 3)]
    rows += [doc(f"c{i:02d}", delete_block(articles[i]["text"], 0.08), quality_score=0.2) for i in range(1, 24, 4)]
    originals = {r["id"]: r["text"] for r in rows if r["id"].startswith("a")}
    for r in rows:  # the fixture itself: every copy is well above the 0.7 verification threshold
        if not r["id"].startswith("a"):
            assert true_jaccard(originals[f"a{r['id'][1:]}"], r["text"]) > 0.8, r["id"]
    return write_parts(rows, tmp_path / "in", 6)  # rows[i::6]: most copies sit in another file than their original


def test_each_file_with_candidates_is_read_once_and_decisions_do_not_depend_on_partitions(
        corpus, threads_client, tmp_path, monkeypatch):
    reads: Counter[str] = Counter()
    real = candidates._shingle_sets

    def counted(path, rows, hasher):
        reads[path] += 1
        return real(path, rows, hasher)

    monkeypatch.setattr(candidates, "_shingle_sets", counted)
    one = run(corpus, tmp_path / "one", threads_client)
    reads_one = dict(reads)
    reads.clear()
    monkeypatch.setattr(phases, "npartitions", lambda rows, bands: 5)
    five = run(corpus, tmp_path / "five", threads_client)
    assert five["dedup"]["shuffle_partitions"] == 5
    assert reads_one and set(reads.values()) == {1} and set(reads) == set(reads_one)
    assert five["dedup"]["verification"]["pairs_confirmed"] == one["dedup"]["verification"]["pairs_confirmed"] > 0
    decisions = lambda out: sorted((r["id"], r["dup_of"], r["reason"]) for r in read_out(out)[1])  # noqa: E731
    assert decisions(tmp_path / "one") == decisions(tmp_path / "five")
    assert len(decisions(tmp_path / "five")) == 14  # every planted copy: 8 substituted, 6 cut

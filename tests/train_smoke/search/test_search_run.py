"""A whole search on three real sources: 5 proxies, the fit, mix.yaml, and the verification through ablate."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from search_helpers import make_eval, make_sources, make_tokenizer, write_search

from corpus_forge.cli import main as cli
from train_smoke.config import TrainConfig

pytestmark = pytest.mark.skipif("sources" not in TrainConfig.model_fields,
                                reason="needs the trainer's sources/weights (issue 20)")
NAMES = ["web", "books", "wiki"]


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory, dask_client) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("search")
    tok = make_tokenizer(root / "tok")
    spec = write_search(root / "search.yaml", tok, make_sources(root / "src"), make_eval(root / "eval"))
    out = root / "out"
    address = dask_client.scheduler.address
    assert cli(["mix", "search", str(spec), "--out", str(out), "--scheduler", address, "--no-progress"]) == 0
    return {"root": root, "out": out, "spec": spec, "tok": tok, "address": address}


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_the_search_writes_every_output(search):
    out = search["out"]
    for name in ("proxies.csv", "search.md", "mix.yaml", "weights.png", "fit.png", "verify/results.csv"):
        assert (out / name).is_file(), name
    rows = _rows(out / "proxies.csv")
    assert len(rows) == 5
    cols = set(rows[0])
    assert {f"weight_{n}" for n in NAMES} | {f"tokens_{n}" for n in NAMES} <= cols
    assert {"bpb_pride_and_prejudice", "bpb_wikitext2_test", "bpb_mean"} <= cols
    first = (out / "search.md").read_text().splitlines()[0]
    assert first.startswith(("**The found mix beat both obvious mixes**", "**The found mix did NOT beat both"))
    verify = _rows(out / "verify" / "results.csv")
    assert sorted((r["mix"], r["seed"]) for r in verify) == sorted(
        (m, s) for m in ("found", "natural", "equal") for s in ("0", "1"))
    stats = json.loads((out / "stats.json").read_text())["search"]
    assert stats["proxies"] == 5 and set(stats["found"]) == set(NAMES)
    assert abs(sum(stats["found"].values()) - 1) < 1e-9 and stats["found"]["web"] <= 0.9 + 1e-9


def test_each_proxy_trains_the_shares_it_asked_for(search):
    for r in _rows(search["out"] / "proxies.csv"):
        tokens = {n: int(r[f"tokens_{n}"]) for n in NAMES}
        total = sum(tokens.values())
        for n in NAMES:
            assert abs(tokens[n] / total - float(r[f"weight_{n}"])) < 0.02, (r["proxy"], n)


def test_every_proxy_starts_from_the_same_weights(search):
    seeds = {json.loads(p.read_text())["seed"] for p in (search["out"] / "proxies").glob("*/summary.json")}
    assert seeds == {0}


def test_the_found_mix_yaml_packs(search, tmp_path):
    out = tmp_path / "packed"
    assert cli(["pack", "--tokenizer", str(search["tok"]), "--mix", str(search["out"] / "mix.yaml"), "--out",
                str(out), "--scheduler", search["address"], "--no-progress"]) == 0
    manifest = json.loads((out / "found" / "manifest.json").read_text())
    found = json.loads((search["out"] / "stats.json").read_text())["search"]["found"]
    for s in manifest["sources"]:
        assert s["requested_weight"] == pytest.approx(found[s["name"]], abs=1e-5)
    assert manifest["train_tokens"] > 0


def test_a_rerun_skips_the_finished_proxies(search):
    out = search["out"]
    before = {p.parent.name: p.stat().st_mtime_ns for p in (out / "proxies").glob("*/summary.json")}
    old = {r["proxy"]: r for r in _rows(out / "proxies.csv")}
    # as if proxy 3 had died: no marker, no run folder, the search not complete
    for p in (out / "_parts" / "proxy-003.json", out / "_SUCCESS"):
        p.unlink()
    shutil.rmtree(out / "proxies" / "proxy-003")
    assert cli(["mix", "search", str(search["spec"]), "--out", str(out), "--scheduler", search["address"],
                "--no-progress"]) == 0
    after = {p.parent.name: p.stat().st_mtime_ns for p in (out / "proxies").glob("*/summary.json")}
    assert {k for k in before if after[k] != before[k]} == {"proxy-003"}
    new = {r["proxy"]: r for r in _rows(out / "proxies.csv")}
    # the rerun proxy gives the same numbers: same weights, same seed, same data order
    assert new["proxy-003"]["bpb_mean"] == old["proxy-003"]["bpb_mean"]


def test_the_search_has_a_section_in_the_report(search):
    pytest.importorskip("corpus_forge.sections", reason="the report's section hook (house-report) is not merged")
    from train_smoke.search.stage import SearchStage

    stats = json.loads((search["out"] / "stats.json").read_text())
    sec = SearchStage.report_section(str(search["out"]), stats)
    assert sec.title == "Mixture search"
    assert stats["search"]["headline"].split(":")[0] in sec.html
    assert sec.html.count("<img") == 2 and sec.html.count("<table>") == 3

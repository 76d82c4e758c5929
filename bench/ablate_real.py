"""The real-data ablation of the README: every page of ``../shared/data/web_extraction`` (4,172 real pages,
built into WARCs by ``bench/extract.py``'s builder) through the webtext steps, then raw vs heuristics vs
heuristics + quality classifier (and that with books) at equal tokens over 3 seeds.

    .venv/bin/python bench/ablate_real.py [--work /tmp/cf_ablate_real] [--seeds 0 1 2] [--tokens 600000]

Writes the recipe it runs to ``WORK/recipe.yaml`` and the run to ``WORK/run`` (``09-ablate/results.md`` is the
table: per evaluation text, paired and Welch p-values, and the source shares each mix actually trained), then
prints ``results.md``. A rerun reuses every finished step.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml
from _common import add_repo_to_path, machine_line

add_repo_to_path()
ROOT = Path(__file__).resolve().parents[1]


def recipe(warcs: list[str], seeds: list[int], tokens: int, workers: int) -> dict:
    books = str(ROOT / "samples" / "books")
    return {
        "name": "ablate-real", "inputs": warcs, "workers": workers,
        "stages": [
            {"extract": {"time_limit": 5, "url_filters": [{"type": "wikipedia"}]}},
            {"filter": {"id": "heuristics", "filters": [
                {"type": "langid", "languages": ["en"], "threshold": 0.65}, {"type": "gopher_repetition"},
                {"type": "gopher_quality"}, {"type": "c4"}, {"type": "fineweb_quality"}]}},
            {"dedup": {}},
            {"decontaminate": {"action": "excise"}},
            {"filter": {"id": "quality", "filters": [{"type": "quality", "mode": "top_fraction", "fraction": 0.5}]}},
            {"bpe": {"inputs": ["@decontaminate", books], "vocab_size": 4096}},
            {"pack": {"tokenizer": "@bpe", "mix": {"seed": 0, "shard_tokens": 100_000_000, "mixes": {
                "raw": {"val_fraction": 0.05, "sources": [{"path": "@extract", "name": "web"}]},
                "heuristics": {"val_fraction": 0.05, "sources": [{"path": "@decontaminate", "name": "web"}]},
                "curated": {"val_fraction": 0.05, "sources": [{"path": "@quality", "name": "web"}]},
                "curated_books": {"tokens": tokens, "val_fraction": 0.05, "max_epochs": 4, "sources": [
                    {"path": "@quality", "name": "web", "weight": 0.7},
                    {"path": books, "name": "books", "weight": 0.3}]},
            }}}},
            {"ablate": {"inputs": ["@pack"], "seeds": seeds, "model": "tiny", "tokens": tokens}},
        ],
    }


def main(argv: list[str] | None = None) -> int:
    from extract import build_warcs

    from _common import import_build_samples

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/cf_ablate_real"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--tokens", type=int, default=600_000, help="tokens per run (every run the same)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--files", type=int, default=8, help="WARC files the pages are written into")
    args = ap.parse_args(argv)
    bs = import_build_samples()
    warcs, pages = build_warcs(args.work, tuple(bs.ALL_SETS), args.files)
    path = args.work / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe(warcs, args.seeds, args.tokens, args.workers), sort_keys=False))
    print(f"{pages} pages in {len(warcs)} WARCs; recipe {path}; start: {machine_line()}", flush=True)
    cli = Path(sys.executable).parent / "corpus-forge"
    subprocess.run([str(cli), "run", str(path), "--out", str(args.work / "run")], check=True)
    print(f"end: {machine_line()}")
    print((args.work / "run" / "09-ablate" / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

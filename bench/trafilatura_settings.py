"""Which ``trafilatura.extract`` settings should the extract stage use? F1 and speed on the AEB pages.

    .venv/bin/python bench/trafilatura_settings.py [--repeats 3] [--limit N] [--charset]

On the 181 pages of scrapinghub's article-extraction-benchmark (ground truth ``articleBody``) this runs
each setting in one process, interleaved over repeats, and prints per setting: AEB F1 (4-token shingles,
the benchmark's own metric), token F1 (single tokens), precision, recall, pages with no output, and
pages/s from the median wall and CPU time (CPU time is the steadier figure on a shared machine), plus the
p99 and max seconds of one page. ``deduplicate`` runs get a fresh LRU cache per run, so repeats don't see
each other's paragraphs.

``--trafilatura-eval`` also scores every setting on trafilatura's own 990 multilingual evaluation pages
(snippets that must / must not appear), so a choice is not tuned to English news alone.

``--charset`` adds a short measurement on ``page_signal_googlenews`` (pages declaring ISO-8859-1): which
decoding rule recovers the gold text's non-ASCII words.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from typing import Any

from _common import (
    WEB_EXTRACTION,
    extraction_scores,
    machine_line,
    median,
    paired_f1_difference,
    percentile,
    print_table,
)

# datatrove 0.10 ``Trafilatura()`` defaults: favour_precision=True, include_comments=False, deduplicate=True
# (per-process LRU across pages), timeout=1 s per page in a sandbox process.
SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "no_comments (AEB's run)": {"include_comments": False},
    "fast": {"fast": True},
    "fast, no_comments": {"fast": True, "include_comments": False},
    "favor_precision": {"favor_precision": True},
    "favor_recall": {"favor_recall": True},
    "deduplicate": {"deduplicate": True},
    "datatrove defaults": {"favor_precision": True, "include_comments": False, "deduplicate": True},
    "datatrove + fast": {
        "favor_precision": True,
        "include_comments": False,
        "deduplicate": True,
        "fast": True,
    },
    "fast, precision, no_comments": {"fast": True, "favor_precision": True, "include_comments": False},
    "fast, recall, no_comments": {"fast": True, "favor_recall": True, "include_comments": False},
    "fast, no_comments, no_tables": {"fast": True, "include_comments": False, "include_tables": False},
}


def load_aeb(limit: int | None = None) -> list[tuple[str, str, str]]:
    """(url, html, articleBody) for the AEB pages, in file-name order; HTML is UTF-8 for all 181."""
    root = WEB_EXTRACTION / "scrapinghub_aeb"
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth)[:limit]:
        html = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8")
        pages.append((truth[key]["url"], html, truth[key]["articleBody"]))
    return pages


def run_setting(
    pages: list[tuple[str, str, str]], kwargs: dict[str, Any]
) -> tuple[list[str | None], float, float, list[float]]:
    """Extract every page with ``kwargs``; return outputs, wall s, CPU s, per-page wall seconds."""
    from trafilatura import extract
    from trafilatura.deduplication import LRU_SIZE, LRUCache

    kwargs = dict(kwargs)
    if kwargs.get("deduplicate"):
        kwargs["deduplicate"] = LRUCache(maxsize=LRU_SIZE)
    outs, per_page = [], []
    w0, c0 = time.perf_counter(), time.process_time()
    for url, html, _ in pages:
        t = time.perf_counter()
        outs.append(extract(html, url=url, **kwargs))
        per_page.append(time.perf_counter() - t)
    return outs, time.perf_counter() - w0, time.process_time() - c0, per_page


def bench_settings(pages: list[tuple[str, str, str]], repeats: int) -> list[dict[str, Any]]:
    walls: dict[str, list[float]] = {k: [] for k in SETTINGS}
    cpus: dict[str, list[float]] = {k: [] for k in SETTINGS}
    per_page: dict[str, list[float]] = {k: [] for k in SETTINGS}
    outputs: dict[str, list[str | None]] = {}
    extract_warmup(pages)
    for r in range(repeats):  # interleave settings so load drift hits them alike
        for name, kw in SETTINGS.items():
            outs, wall, cpu, pp = run_setting(pages, kw)
            walls[name].append(wall)
            cpus[name].append(cpu)
            per_page[name].extend(pp)
            outputs.setdefault(name, outs)
        print(f"  repeat {r + 1}/{repeats} done; {machine_line()}", file=sys.stderr, flush=True)
    rows = []
    n = len(pages)
    base_cpu = median(cpus["default"])
    base_pairs = [(truth, out) for (_, _, truth), out in zip(pages, outputs["default"], strict=True)]
    for name in SETTINGS:
        pairs = [(truth, out) for (_, _, truth), out in zip(pages, outputs[name], strict=True)]
        aeb, tok = extraction_scores(pairs, n=4, bootstrap=300), extraction_scores(pairs, n=1)
        diff, diff_std = paired_f1_difference(pairs, base_pairs)
        rows.append(
            {
                "setting": name,
                "F1": aeb["f1"],
                "F1_std": aeb["f1_std"],
                "dF1_vs_default": f"{diff:+.3f}±{diff_std:.3f}",
                "P": aeb["precision"],
                "R": aeb["recall"],
                "tokF1": tok["f1"],
                "empty": sum(1 for o in outputs[name] if not o),
                "pages/s": n / median(walls[name]),
                "pages/s_cpu": n / median(cpus[name]),
                "speedup_cpu": base_cpu / median(cpus[name]),
                "p99_s": percentile(per_page[name], 0.99),
                "max_s": max(per_page[name]),
            }
        )
    return rows


def extract_warmup(pages: list[tuple[str, str, str]]) -> None:
    """First calls pay for imports and lazy setup; keep them out of every timing."""
    from trafilatura import extract

    for _, html, _ in pages[:3]:
        extract(html)


# ------------------------------------------------------------------------------- trafilatura's eval


def snippet_eval(settings: list[str], limit: int | None = None) -> list[dict[str, Any]]:
    """trafilatura's own evaluation (990 multilingual pages, ``evaldata.json``): per setting, the share of
    "with" snippets found (recall) and of "without" snippets avoided; precision = tp / (tp + fp) with
    fp = boilerplate snippets found, as in trafilatura's ``tests/comparison.py``. One pass, CPU pages/s."""
    from trafilatura import extract
    from trafilatura.deduplication import LRU_SIZE, LRUCache

    root = WEB_EXTRACTION / "trafilatura_eval"
    evaldata = json.loads((root / "evaldata.json").read_text(encoding="utf-8"))
    cases = []
    for url in sorted(evaldata)[:limit]:
        item = evaldata[url]
        path = next(
            (p for p in (root / "eval", root / "cache") if (p / (item["file"] + ".gz")).exists()), None
        )
        if path is not None:
            data = gzip.decompress((path / (item["file"] + ".gz")).read_bytes())
            cases.append((url, data, item.get("with", []), item.get("without", [])))
    rows = []
    for name in settings:
        kw = dict(SETTINGS[name])
        if kw.get("deduplicate"):  # one cache across the pages, as in a datatrove task
            kw["deduplicate"] = LRUCache(maxsize=LRU_SIZE)
        tp = fn = tn = fp = 0
        c0 = time.process_time()
        for url, data, with_, without in cases:
            out = extract(data, url=url if url.startswith("http") else None, **kw) or ""
            for snip in with_:
                tp, fn = (tp + 1, fn) if snip in out else (tp, fn + 1)
            for snip in without:
                fp, tn = (fp + 1, tn) if snip in out else (fp, tn + 1)
        cpu = time.process_time() - c0
        prec, rec = tp / max(1, tp + fp), tp / max(1, tp + fn)
        rows.append(
            {
                "setting": name,
                "F": 2 * prec * rec / max(1e-9, prec + rec),
                "precision": prec,
                "recall": rec,
                "accuracy": (tp + tn) / max(1, tp + tn + fp + fn),
                "pages/s_cpu": len(cases) / cpu,
            }
        )
    return rows


# --------------------------------------------------------------------------------------- charsets

_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _decode(data: bytes, order: list[str]) -> tuple[str | None, str]:
    """Decode by the first rule in ``order`` that works: 'meta', 'utf-8', 'detector'."""
    for rule in order:
        if rule == "meta":
            m = _META.search(data[:4096])
            cs = m.group(1).decode("ascii", "ignore") if m else None
            if cs:
                cs = "cp1252" if cs.lower() in ("iso-8859-1", "iso8859_1", "latin-1", "us-ascii") else cs
                try:
                    return data.decode(cs), "meta"
                except (UnicodeDecodeError, LookupError):
                    continue
        elif rule == "utf-8":
            try:
                return data.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                continue
        elif rule == "detector":
            from charset_normalizer import from_bytes

            best = from_bytes(data[: 1 << 18]).best()
            if best is not None and best.encoding:
                return data.decode(best.encoding, "replace"), "detector"
    return None, "none"


def _mojibake_words(text: str) -> int:
    """Words that are UTF-8 bytes read as cp1252 (``Ã©``, ``â€™``): re-encoding them gives valid UTF-8."""
    n = 0
    for w in {w for w in text.split() if not w.isascii()}:
        try:
            fixed = w.encode("cp1252").decode("utf-8")
        except UnicodeError:
            continue
        n += fixed != w
    return n


def charset_measure(
    sets: tuple[str, ...] = ("page_signal_googlenews", "trafilatura_eval", "cleaneval"),
) -> list[dict[str, Any]]:
    """Per set and decoding order: which rule decided, and on how many pages the result is mojibake.

    These sets stored no HTTP headers, so the HTTP charset (first in a WARC) is absent here. A page
    counts as mojibake when any word of the decoded text turns into different valid UTF-8 when
    re-encoded as cp1252: the signature of UTF-8 bytes decoded with a legacy single-byte charset.
    """
    orders = {
        "meta > utf-8 > detector": ["meta", "utf-8", "detector"],
        "utf-8 > meta > detector": ["utf-8", "meta", "detector"],
        "utf-8 > detector (datatrove)": ["utf-8", "detector"],
    }
    rows = []
    for set_name in sets:
        root = WEB_EXTRACTION / set_name
        paths = (
            sorted(root.glob("input/*.html.gz"))
            + sorted(root.glob("*/input/*.html.gz"))
            + sorted(root.glob("eval/*.html.gz"))
            + sorted(root.glob("cache/*.html.gz"))
        )
        datas = [gzip.decompress(p.read_bytes()) for p in paths]
        legacy_utf8 = 0
        for data in datas:
            m = _META.search(data[:4096])
            declared = m.group(1).decode("ascii", "ignore").lower().replace("_", "-") if m else ""
            if declared and declared not in ("utf-8", "utf8") and not data.isascii():
                try:
                    data.decode("utf-8")
                    legacy_utf8 += 1
                except UnicodeDecodeError:
                    pass
        for name, order in orders.items():
            used: dict[str, int] = {}
            bad = 0
            for data in datas:
                text, how = _decode(data, order)
                used[how] = used.get(how, 0) + 1
                bad += bool(text) and _mojibake_words(text) >= 1
            rows.append(
                {
                    "set": set_name,
                    "rule": name,
                    "pages": len(datas),
                    "meta_legacy_but_utf8": legacy_utf8,
                    "mojibake_pages": bad,
                    "decided_by": ", ".join(f"{k}:{v}" for k, v in sorted(used.items())),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="first N pages only (quick look)")
    ap.add_argument("--charset", action="store_true", help="also measure charset decoding on page_signal")
    ap.add_argument(
        "--trafilatura-eval",
        action="store_true",
        help="also score every setting on trafilatura's 990 multilingual eval pages (snippets)",
    )
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    import trafilatura

    pages = load_aeb(args.limit)
    print(
        f"trafilatura {trafilatura.__version__}; {len(pages)} AEB pages; {args.repeats} repeats; "
        f"{machine_line()}",
        flush=True,
    )
    rows = bench_settings(pages, args.repeats)
    print(
        "\nF1 = AEB metric (4-token shingles) with its bootstrap std; dF1 = paired bootstrap difference "
        "vs default ± std; tokF1 = single tokens; pages/s = median over repeats, one process"
    )
    print_table(rows)
    result: dict[str, Any] = {"settings": rows}
    if args.trafilatura_eval:
        print("\ntrafilatura's evaluation pages (with/without snippets), one pass per setting")
        result["trafilatura_eval"] = snippet_eval(list(SETTINGS), args.limit)
        print_table(result["trafilatura_eval"])
    if args.charset:
        print(
            "\ncharset decoding: which rule decided, pages left as mojibake (UTF-8 read as a legacy charset)"
        )
        result["charset"] = charset_measure()
        print_table(result["charset"])
    print(f"\nend: {machine_line()}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers shared by the side-by-side benchmarks in ``bench/``.

Import from a bench script (``bench/`` is on ``sys.path`` when a script there runs)::

    from _common import REPO_ROOT, SHARED_DATA, load_average, median, print_table, timed

- Paths: ``REPO_ROOT``, ``SHARED_DATA`` (``../shared/data``; override with ``CF_SHARED_DATA``),
  :func:`add_repo_to_path` so ``corpus_forge`` / ``pipelines`` import without installing.
- Timing on a shared machine: :func:`timed` (wall and this process's CPU seconds), :class:`CpuMeter`
  (CPU seconds of this process and every worker process it starts), :func:`median`,
  :func:`load_average`, :func:`machine_line` (print it with every result: the numbers are noisy).
- Extraction quality: :func:`shingle_match` / :func:`extraction_scores`, the scoring of scrapinghub's
  article-extraction-benchmark (AEB) re-implemented from its ``evaluate.py``: ``\\w+`` tokens, multisets of
  n-token shingles (n=4 there; n=1 is plain token-level F1), per-page tp/fp/fn normalised to sum 1,
  precision and recall averaged over pages, F1 = harmonic mean of the two averages.
- :func:`paired_f1_difference`: F1(a) - F1(b) on the same pages with a paired bootstrap std.
- :func:`aeb_ground_truth`: the AEB ``articleBody`` per page URL (URLs as written in our WARCs).
- :func:`print_table`: a plain aligned text table.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("CF_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
WEB_EXTRACTION = SHARED_DATA / "web_extraction"

T = TypeVar("T")


def add_repo_to_path() -> None:
    """Make ``corpus_forge``, ``pipelines``, ``filters`` importable from a checkout (no install needed)."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)


def import_build_samples() -> Any:
    """The ``samples/build_samples.py`` module (page loaders and the WARC writer)."""
    samples = str(REPO_ROOT / "samples")
    if samples not in sys.path:
        sys.path.insert(0, samples)
    import build_samples

    return build_samples


# ------------------------------------------------------------------------------------------- timing


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:  # not available on this platform
        return (float("nan"),) * 3


def machine_line() -> str:
    """One line describing the machine now: CPUs and load average (1, 5, 15 min)."""
    la = load_average()
    return f"{os.cpu_count()} CPUs, load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}"


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """Run ``fn()``; return (result, wall seconds, CPU seconds of this process)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


class CpuMeter:
    """CPU seconds used by this process and all its descendants while the block runs.

    Worker pools (Dask nannies and workers, multiprocessing forkservers and their children) are not
    reaped by us, so ``RUSAGE_CHILDREN`` misses them; this polls every descendant's cpu_times with psutil
    every ``interval`` seconds and sums the last value seen per process. A process that lives less than
    one interval is missed, so keep the interval short relative to task lifetimes.

        with CpuMeter() as cpu:
            run()
        print(cpu.seconds)
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.seconds = 0.0
        self._seen: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        import psutil

        me = psutil.Process()
        try:
            procs = [me, *me.children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            try:
                t = p.cpu_times()
                self._seen[(p.pid, p.create_time())] = t.user + t.system
            except psutil.Error:
                continue

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def __enter__(self) -> CpuMeter:
        self._poll()
        self._start = dict(self._seen)
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._poll()
        self.seconds = sum(v - self._start.get(k, 0.0) for k, v in self._seen.items())


def median(values: Iterable[float]) -> float:
    vals = list(values)
    return statistics.median(vals) if vals else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) by nearest rank."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


# ------------------------------------------------------------------------------- extraction quality

_TOKEN = re.compile(r"\w+")


def tokenize(text: str | None) -> list[str]:
    """AEB's tokenizer: runs of word characters (any script), case kept."""
    return _TOKEN.findall(text or "")


def shingles(text: str | None, n: int = 4) -> Counter:
    """Multiset of n-token shingles; a text shorter than ``n`` tokens is one shingle (as in AEB)."""
    toks = tokenize(text)
    if n == 1:
        return Counter(toks)
    grams = [tuple(toks[i : i + n]) for i in range(max(1, len(toks) - n + 1))]
    return Counter(g for g in grams if g)


def shingle_match(true: str | None, pred: str | None, n: int = 4) -> tuple[float, float, float]:
    """(tp, fp, fn) over shingle multisets, normalised to sum to 1 so long pages weigh no more."""
    t, p = shingles(true, n), shingles(pred, n)
    tp = float(sum((t & p).values()))
    fp = float(sum((p - t).values()))
    fn = float(sum((t - p).values()))
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


def _scores(matches: Sequence[tuple[float, float, float]]) -> tuple[float, float, float]:
    precs = [_precision(*m) for m in matches if m[0] + m[1] > 0]
    recs = [_recall(*m) for m in matches if m[0] + m[2] > 0]
    prec = statistics.mean(precs) if precs else 0.0
    rec = statistics.mean(recs) if recs else 0.0
    return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)


def extraction_scores(
    pairs: Iterable[tuple[str | None, str | None]], n: int = 4, bootstrap: int = 0, seed: int = 0
) -> dict[str, float]:
    """AEB's metric over (truth, prediction) pairs: mean precision, mean recall, their harmonic mean.

    Pages with no prediction count (precision undefined → skipped, recall 0), exactly as AEB does.
    ``bootstrap > 0`` adds ``f1_std``: the standard deviation of F1 over that many resamples of the
    pages (AEB reports the same, with 1000), to judge whether two settings really differ.
    """
    matches = [shingle_match(t, p, n) for t, p in pairs]
    prec, rec, f1 = _scores(matches)
    out = {"f1": f1, "precision": prec, "recall": rec, "pages": len(matches)}
    if bootstrap and matches:
        rng = random.Random(seed)
        k = len(matches)
        f1s = [_scores([matches[rng.randrange(k)] for _ in range(k)])[2] for _ in range(bootstrap)]
        out["f1_std"] = statistics.stdev(f1s)
    return out


def paired_f1_difference(
    pairs_a: Sequence[tuple[str | None, str | None]],
    pairs_b: Sequence[tuple[str | None, str | None]],
    n: int = 4,
    bootstrap: int = 300,
    seed: int = 0,
) -> tuple[float, float]:
    """F1(a) - F1(b) on the same pages, and its bootstrap standard deviation (pages resampled together,
    as AEB's ``--bootstrap-differences``). A difference within ~2 std is not a real difference."""
    ma = [shingle_match(t, p, n) for t, p in pairs_a]
    mb = [shingle_match(t, p, n) for t, p in pairs_b]
    if len(ma) != len(mb):
        raise ValueError("paired scoring needs the same pages on both sides")
    diff = _scores(ma)[2] - _scores(mb)[2]
    rng = random.Random(seed)
    k = len(ma)
    diffs = []
    for _ in range(bootstrap):
        idx = [rng.randrange(k) for _ in range(k)]
        diffs.append(_scores([ma[i] for i in idx])[2] - _scores([mb[i] for i in idx])[2])
    return diff, (statistics.stdev(diffs) if len(diffs) > 1 else float("nan"))


def aeb_ground_truth(data_dir: Path = WEB_EXTRACTION) -> dict[str, str]:
    """``{url: articleBody}`` for the 181 AEB pages; URLs normalised as our WARCs write them."""
    bs = import_build_samples()
    truth = json.loads((Path(data_dir) / "scrapinghub_aeb" / "ground-truth.json").read_text(encoding="utf-8"))
    return {bs.crawl_url(v["url"]): v["articleBody"] for v in truth.values()}


# ---------------------------------------------------------------------------------------- reporting


def print_table(
    rows: list[dict[str, Any]], columns: Sequence[str] | None = None, floatfmt: str = ".3f"
) -> str:
    """Print (and return) ``rows`` as an aligned text table; numbers right-aligned."""
    cols = list(columns or (rows[0].keys() if rows else []))

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return format(v, floatfmt)
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    numeric = [all(isinstance(r.get(c), (int, float)) for r in rows) for c in cols]
    lines = [
        "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cols, widths, numeric, strict=False)
        ),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(row, widths, numeric, strict=False))
        for row in cells
    ]
    text = "\n".join(lines)
    print(text, flush=True)
    return text

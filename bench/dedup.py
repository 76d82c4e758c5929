"""Dedup benchmark and accuracy evaluation: ours vs datasketch vs datatrove on the same real documents.

    .venv/bin/python bench/dedup.py signatures [--mb 8] [--repeats 3]
    .venv/bin/python bench/dedup.py stage [--docs 11000] [--skip-datatrove]
    .venv/bin/python bench/dedup.py throughput [--throughput-docs 60000]
    .venv/bin/python bench/dedup.py clough
    .venv/bin/python bench/dedup.py all

``signatures``: MinHash signature throughput on one core (MB of text per second), text -> signatures:
ours (numba kernels; numpy fallback too) vs datasketch ``MinHash.update_batch`` fed the same 5-gram
shingles (shingling time reported apart from hashing time).

``stage``: a planted corpus cut from real pages (``../shared/data/web_extraction`` gold texts, cut into
windows of 120-400 words so that there are >= 10k distinct documents) plus 10% planted near-duplicates at
true Jaccard 0.7-0.95 (word substitutions, block deletions, boilerplate insertions). Then, on the same
Parquet files: our whole stage (LocalCluster, 1 worker), datasketch in memory (MinHash + MinHashLSH insert
and query + union-find), datatrove's four minhash steps (LocalPipelineExecutor, whitespace word tokenizer:
its English default needs spaCy). Reports documents/s, peak RSS of the process tree, and precision /
recall against the ground truth (all pairs with true Jaccard >= 0.7, found exactly with an inverted index).

``throughput``: the same whole-stage comparison on a larger corpus (random, overlapping windows of the
same texts, 60k documents by default), where start-up costs (worker processes, imports, JIT cache loads:
a few seconds) weigh less. ``clough``: the Clough & Stevenson answers against their sources.

The machine is shared (2 cores, several agents): numbers are medians of repeats and noisy; ratios are
the thing to read.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "web_extraction"
sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------------------------------------------
# corpus

def real_texts() -> list[str]:
    """Gold main texts of real pages: AEB, DragNet, page-signal, CleanEval, CleanPortalEval."""
    out = [v["articleBody"] for v in json.load(open(SHARED / "scrapinghub_aeb" / "ground-truth.json")).values()]
    for pattern in ("dragnet/gold/*", "page_signal_googlenews/gold/*", "cleaneval/final/gold/*",
                    "cleaneval/dev/gold/*", "cleanportaleval/gold/*"):
        for p in sorted(glob.glob(str(SHARED / pattern))):
            raw = gzip.open(p).read() if p.endswith(".gz") else open(p, "rb").read()
            text = raw.decode("utf-8", "replace")
            text = re.sub(r"<[^>]+>", " ", text)  # CleanEval gold has <p>/<h> markup
            text = re.sub(r"^URL: .*$", "", text, flags=re.M)
            out.append(text)
    return out


def words(text: str) -> list[str]:
    text = re.sub(r"\d+", "0", text.lower())
    return re.sub(r"[^\w\s]|_", " ", text).split()


def shingles(text: str, n: int = 5) -> set[str]:
    w = words(text)
    if len(w) < n:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i:i + n]) for i in range(len(w) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def windows(texts: list[str], rng: random.Random) -> list[str]:
    """Cut texts into non-overlapping windows of 120-400 words (distinct documents)."""
    docs, seen = [], set()
    for t in texts:
        w = t.split()
        i = 0
        while len(w) - i >= 120:
            n = min(rng.randint(120, 400), len(w) - i)
            d = " ".join(w[i:i + n])
            i += n
            key = " ".join(words(d))
            if key not in seen:
                seen.add(key)
                docs.append(d)
    return docs


def edit(text: str, rng: random.Random, strength: float) -> str:
    """One controlled edit; ``strength`` in [0, 1] scales how much is changed."""
    w = text.split()
    kind = rng.choice(["substitute", "delete", "boilerplate", "insert"])
    if kind == "substitute":
        k = max(1, int(len(w) * strength * 0.08))
        for i in rng.sample(range(len(w)), k):
            w[i] = rng.choice(["lorem", "ipsum", "dolor", "amet", "sit"]) + str(rng.randint(0, 9)) + "x"
    elif kind == "delete":
        k = max(1, int(len(w) * strength * 0.25))
        a = rng.randint(0, len(w) - k)
        del w[a:a + k]
    elif kind == "boilerplate":
        k = max(1, int(len(w) * strength * 0.25))
        nav = "home news sport weather subscribe sign in share this story print email follow us".split()
        w = [rng.choice(nav) for _ in range(k // 2)] + w + [rng.choice(nav) for _ in range(k - k // 2)]
    else:
        k = max(1, int(len(w) * strength * 0.25))
        a = rng.randint(0, len(w))
        w[a:a] = ["extra" + str(rng.randint(0, 99)) for _ in range(k)]
    return " ".join(w)


def plant(docs: list[str], rng: random.Random, fraction: float = 0.1) -> list[tuple[int, str, float]]:
    """(original index, copy, true Jaccard) for ``fraction`` of ``docs``, Jaccard uniform in 0.7-0.95."""
    out = []
    for i in rng.sample(range(len(docs)), int(len(docs) * fraction)):
        target = rng.uniform(0.7, 0.95)
        base = shingles(docs[i])
        lo, hi, best = 0.0, 1.0, None
        for _ in range(12):  # bisect the edit strength towards the target Jaccard
            s = (lo + hi) / 2
            copy = edit(docs[i], random.Random(rng.random()), s)
            j = jaccard(base, shingles(copy))
            if best is None or abs(j - target) < abs(best[1] - target):
                best = (copy, j)
            lo, hi = (s, hi) if j > target else (lo, s)
        if 0.7 <= best[1] <= 0.95:
            out.append((i, best[0], best[1]))
    return out


def build_corpus(n_docs: int, seed: int = 0) -> tuple[list[dict], list[tuple[int, int, float]]]:
    rng = random.Random(seed)
    base = windows(real_texts(), rng)
    rng.shuffle(base)
    base = base[:n_docs]
    planted = plant(base, rng)
    docs = [{"id": f"d{i:06d}", "text": t} for i, t in enumerate(base)]
    pairs = []
    for k, (i, copy, j) in enumerate(planted):
        docs.append({"id": f"p{k:06d}", "text": copy})
        pairs.append((i, len(docs) - 1, j))
    order = list(range(len(docs)))
    rng.shuffle(order)  # plants spread over all files
    where = {old: new for new, old in enumerate(order)}
    return [docs[i] for i in order], [(where[a], where[b], j) for a, b, j in pairs]


def true_pairs(docs: list[dict], threshold: float = 0.7, max_df: int = 200) -> dict[tuple[int, int], float]:
    """All pairs with Jaccard >= threshold (inverted index; shingles in > max_df docs are ignored as
    candidates only, their sets still count in the Jaccard)."""
    sets = [shingles(d["text"]) for d in docs]
    index: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for sh in s:
            index[sh].append(i)
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for ids in index.values():
        if 1 < len(ids) <= max_df:
            for x in range(len(ids)):
                for y in range(x + 1, len(ids)):
                    counts[(ids[x], ids[y])] += 1
    out = {}
    for (a, b), c in counts.items():
        # Jaccard >= t needs |A & B| >= t * max(|A|, |B|)
        if c >= threshold * max(len(sets[a]), len(sets[b])) * 0.5:
            j = jaccard(sets[a], sets[b])
            if j >= threshold:
                out[(a, b)] = j
    return out


# ---------------------------------------------------------------------------------------------------
# measuring

class PeakRSS:
    """Peak resident memory of this process and all its descendants (sampled every 50 ms)."""

    def __init__(self) -> None:
        import psutil

        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def bench_signatures(mb: float, repeats: int, batch: int = 500) -> dict:
    from datasketch import MinHash

    from pipelines.dedup.minhash import MinHasher, kernels

    texts, total = [], 0
    for t in real_texts():
        texts.append(t)
        total += len(t.encode())
        if total >= mb * 1e6:
            break
    size = total / 1e6
    ours, numpy_path = MinHasher(), MinHasher(use_numba=False)
    kernels()
    ours.signatures(texts[:50])  # compile / load kernels, build tables
    res: dict[str, list[float]] = defaultdict(list)
    clock = time.process_time  # CPU seconds of this (single-threaded) process: robust to other load
    for _ in range(repeats):
        t_norm = t_sh = t_mh = 0.0
        for lo in range(0, len(texts), batch):  # batches, as the stage hashes them (batch_docs)
            t0 = clock()
            codes, off = ours.normalize(texts[lo: lo + batch])
            t1 = clock()
            h, sh_off = ours.shingles(codes, off)
            t2 = clock()
            ours.signatures_from_shingles(h, sh_off)
            t3 = clock()
            t_norm, t_sh, t_mh = t_norm + t1 - t0, t_sh + t2 - t1, t_mh + t3 - t2
        res["ours"].append(size / (t_norm + t_sh + t_mh))
        res["ours_normalize"].append(size / t_norm)
        res["ours_shingle"].append(size / t_sh)
        res["ours_minhash"].append(size / t_mh)
        t0 = clock()
        numpy_path.signatures(texts[: len(texts) // 4])
        res["ours_numpy"].append(size / 4 / (clock() - t0))
        t0 = clock()
        sh = [[s.encode() for s in shingles(t)] for t in texts]
        t_sh = clock() - t0
        t0 = clock()
        for s in sh:
            m = MinHash(num_perm=112)
            m.update_batch(s)
        t_ds = clock() - t0
        res["datasketch_update_batch"].append(size / t_ds)
        res["datasketch_with_shingling"].append(size / (t_ds + t_sh))
    med = {k: round(statistics.median(v), 2) for k, v in res.items()}
    out = {"mb": round(size, 2), "documents": len(texts), "repeats": repeats, "mb_per_s_one_core": med,
           "ratio_vs_update_batch": round(med["ours"] / med["datasketch_update_batch"], 1),
           "ratio_vs_datasketch_with_shingling": round(med["ours"] / med["datasketch_with_shingling"], 1)}
    return out


def run_ours(src: str, out: str, opts: dict) -> tuple[float, dict]:
    from corpus_forge.runner import run_stage
    from pipelines.dedup import DedupStage

    t0 = time.perf_counter()
    stats = run_stage(DedupStage.from_options(opts), [src], out, workers=1, keep_removed=True, progress=False)
    return time.perf_counter() - t0, stats


def run_datasketch(docs: list[dict], bands: int, rows: int) -> tuple[float, set[int], list[set[int]]]:
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    lsh = MinHashLSH(num_perm=bands * rows, params=(bands, rows))
    sigs = []
    for i, d in enumerate(docs):
        m = MinHash(num_perm=bands * rows)
        m.update_batch([s.encode() for s in shingles(d["text"])])
        lsh.insert(i, m)
        sigs.append(m)
    parent = list(range(len(docs)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    clusters: dict[int, set[int]] = defaultdict(set)
    for i in range(len(docs)):
        clusters[find(i)].add(i)
    removed = {i for c in clusters.values() for i in sorted(c)[1:]}
    return time.perf_counter() - t0, removed, [c for c in clusters.values() if len(c) > 1]


def run_datatrove(src: str, work: str, bands: int, rows: int) -> float:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.word_tokenizers import WordTokenizer

    class Whitespace(WordTokenizer):
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    cfg = MinhashConfig(num_buckets=bands, hashes_per_bucket=rows)
    n_files = len(glob.glob(os.path.join(src, "*.parquet")))
    t0 = time.perf_counter()
    kw = {"logging_dir": None, "skip_completed": False}
    import xxhash

    sign = MinhashDedupSignature(f"{work}/sigs", cfg, language=Whitespace())
    # datatrove 0.10's xxhash64 passes str, which xxhash 4 refuses: hash the UTF-8 bytes instead
    sign._hash_func = lambda s: xxhash.xxh64_intdigest(s.encode("utf-8"))
    LocalPipelineExecutor([ParquetReader(src), sign], tasks=n_files, workers=1, **kw).run()
    LocalPipelineExecutor([MinhashDedupBuckets(f"{work}/sigs", f"{work}/buckets", config=cfg)],
                          tasks=bands, workers=1, **kw).run()
    LocalPipelineExecutor([MinhashDedupCluster(f"{work}/buckets", f"{work}/remove", config=cfg)],
                          tasks=1, workers=1, **kw).run()
    LocalPipelineExecutor([ParquetReader(src), MinhashDedupFilter(f"{work}/remove"),
                           ParquetWriter(f"{work}/out")], tasks=n_files, workers=1, **kw).run()
    return time.perf_counter() - t0


def score(name: str, removed: set[int], clusters: list[set[int]], planted: list, truth: dict,
          n_docs: int) -> dict:
    """Recall on planted pairs (same cluster), precision of removals (has a true partner >= 0.7)."""
    comp = {}
    for k, c in enumerate(clusters):
        for i in c:
            comp[i] = k
    together = [comp.get(a, -1) == comp.get(b, -2) for a, b, _ in planted]
    j = np.array([x for _, _, x in planted])
    tog = np.array(together)
    has_partner = set()
    for a, b in truth:
        has_partner.update((a, b))
    tp = len(removed & has_partner)
    return {
        "method": name, "removed": len(removed),
        "recall_planted_J>=0.8": round(float(tog[j >= 0.8].mean()), 4),
        "recall_planted_0.7-0.8": round(float(tog[j < 0.8].mean()), 4),
        "precision_removed": round(tp / len(removed), 4) if removed else None,
        "recall_all_true_dups": round(tp / max(1, len(has_partner) - len(truth_clusters(truth))), 4),
    }


def truth_clusters(truth: dict) -> list[set[int]]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in truth:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    out: dict[int, set[int]] = defaultdict(set)
    for x in parent:
        out[find(x)].add(x)
    return list(out.values())


def ours_clusters(out: str, id_to_idx: dict[str, int]) -> tuple[set[int], list[set[int]]]:
    import pyarrow.parquet as pq

    removed, clusters = set(), defaultdict(set)
    for p in glob.glob(os.path.join(out, "part-*.parquet")) + glob.glob(os.path.join(out, "removed", "*.parquet")):
        t = pq.read_table(p, columns=["id", "dup_cluster", "dup_of"]).to_pylist()
        for r in t:
            if r["dup_cluster"] is not None:
                clusters[r["dup_cluster"]].add(id_to_idx[r["id"]])
            if r["dup_of"] is not None:
                removed.add(id_to_idx[r["id"]])
    return removed, list(clusters.values())


def bench_stage(n_docs: int, n_files: int, skip_datatrove: bool) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    docs, planted = build_corpus(n_docs)
    truth = true_pairs(docs)
    build_s = time.perf_counter() - t0
    tmp = tempfile.mkdtemp(prefix="bench-dedup-")
    src = os.path.join(tmp, "in")
    os.makedirs(src)
    for i in range(n_files):
        rows = docs[i::n_files]
        pq.write_table(pa.Table.from_pylist([{**d, "url": None, "source": "bench"} for d in rows]),
                       f"{src}/part-{i:05d}.parquet")
    # files hold docs[i::n_files]; map ids back to corpus positions
    id_to_idx = {d["id"]: k for k, d in enumerate(docs)}
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    print(f"corpus: {len(docs)} documents, {len(planted)} planted, {len(truth)} true pairs, "
          f"built in {build_s:.0f} s", flush=True)
    result = {"documents": len(docs), "mb": round(mb, 1), "planted": len(planted),
              "true_pairs_J>=0.7": len(truth), "corpus_build_s": round(build_s, 1), "runs": []}
    for verify in (True, False):
        out = os.path.join(tmp, f"ours-verify{int(verify)}")
        with PeakRSS() as mem:
            secs, stats = run_ours(src, out, {"verify": verify})
        removed, clusters = ours_clusters(out, id_to_idx)
        r = score(f"ours (verify={verify})", removed, clusters, planted, truth, len(docs))
        r.update({"seconds": round(secs, 1), "docs_per_s": round(len(docs) / secs), "peak_rss_mb": mem.peak >> 20,
                  "phase_seconds": stats["dedup"]["phase_seconds"],
                  "verification": stats["dedup"].get("verification")})
        result["runs"].append(r)
        print(json.dumps(r), flush=True)
    with PeakRSS() as mem:
        secs, removed, clusters = run_datasketch(docs, 14, 8)
    r = score("datasketch MinHashLSH (in memory, no verification)", removed, clusters, planted, truth, len(docs))
    r.update({"seconds": round(secs, 1), "docs_per_s": round(len(docs) / secs), "peak_rss_mb": mem.peak >> 20})
    result["runs"].append(r)
    print(json.dumps(r), flush=True)
    if not skip_datatrove:
        with PeakRSS() as mem:
            secs = run_datatrove(src, os.path.join(tmp, "datatrove"), 14, 8)
        result["runs"].append({"method": "datatrove 4-step minhash (whitespace tokenizer)",
                               "seconds": round(secs, 1), "docs_per_s": round(len(docs) / secs),
                               "peak_rss_mb": mem.peak >> 20})
    ours_dps = result["runs"][1]["docs_per_s"]  # like for like: no verification (neither peer verifies)
    result["ratio_docs_per_s_vs_datasketch"] = round(ours_dps / result["runs"][2]["docs_per_s"], 2)
    if not skip_datatrove:
        result["ratio_docs_per_s_vs_datatrove"] = round(ours_dps / result["runs"][3]["docs_per_s"], 2)
    shutil.rmtree(tmp, ignore_errors=True)
    return result


def bench_clough() -> dict:
    """Clough & Stevenson answers vs their Wikipedia source: per label, true Jaccard and what the LSH
    (14 x 8, ours and datasketch) and our verification (>= 0.7) decide for the answer-source pair."""
    import csv

    from datasketch import MinHash

    from pipelines.dedup.minhash import MinHasher

    cs = ROOT.parent / "shared" / "data" / "neardup" / "clough_stevenson_short_answers"
    if not cs.exists():
        cs = ROOT / "tests" / "data" / "dedup" / "clough_stevenson"
    rows = [r for r in csv.DictReader(open(cs / "file_information.csv")) if r["Category"] != "orig"]
    read = lambda n: (cs / n).read_bytes().decode("cp1252", "replace")  # noqa: E731
    m = MinHasher()
    out: dict[str, dict] = {}
    for r in rows:
        a, src = read(r["File"]), read(f"orig_task{r['Task']}.txt")
        j = jaccard(shingles(a), shingles(src))
        keys = m.band_hashes(m.signatures([a, src]))
        cand = bool((keys[0] == keys[1]).any())
        ma, mb = MinHash(num_perm=112), MinHash(num_perm=112)
        ma.update_batch([x.encode() for x in shingles(a)])
        mb.update_batch([x.encode() for x in shingles(src)])
        ha, hb = ma.hashvalues.reshape(14, 8), mb.hashvalues.reshape(14, 8)
        ds = bool((ha == hb).all(axis=1).any())
        c = out.setdefault(r["Category"], {"n": 0, "jaccard": [], "ours_candidate": 0, "ours_removed": 0,
                                           "datasketch_candidate": 0})
        c["n"] += 1
        c["jaccard"].append(j)
        c["ours_candidate"] += cand
        c["ours_removed"] += cand and j >= 0.7
        c["datasketch_candidate"] += ds
    for c in out.values():
        js = sorted(c.pop("jaccard"))
        c["jaccard_min_median_max"] = [round(js[0], 3), round(statistics.median(js), 3), round(js[-1], 3)]
    return out


def random_windows(n_docs: int, seed: int = 1) -> list[dict]:
    """``n_docs`` windows of 120-400 words at random offsets of the real texts (they overlap, so many
    are near duplicates: a throughput corpus, not an accuracy one)."""
    rng = random.Random(seed)
    texts = [t.split() for t in real_texts()]
    texts = [w for w in texts if len(w) >= 150]
    docs = []
    while len(docs) < n_docs:
        w = rng.choice(texts)
        n = min(rng.randint(120, 400), len(w))
        a = rng.randint(0, len(w) - n)
        docs.append({"id": f"r{len(docs):07d}", "text": " ".join(w[a:a + n])})
    return docs


def bench_throughput(n_docs: int, n_files: int, skip_datatrove: bool) -> dict:
    """Whole-stage documents/s on a larger corpus, where fixed start-up costs weigh less."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    docs = random_windows(n_docs)
    tmp = tempfile.mkdtemp(prefix="bench-dedup-")
    src = os.path.join(tmp, "in")
    os.makedirs(src)
    for i in range(n_files):
        pq.write_table(pa.Table.from_pylist([{**d, "url": None, "source": "bench"} for d in docs[i::n_files]]),
                       f"{src}/part-{i:05d}.parquet")
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    res = {"documents": len(docs), "mb": round(mb, 1), "files": n_files, "runs": []}
    for verify in (False, True):
        with PeakRSS() as mem:
            secs, stats = run_ours(src, os.path.join(tmp, f"ours{int(verify)}"), {"verify": verify})
        res["runs"].append({"method": f"ours (verify={verify})", "seconds": round(secs, 1),
                            "docs_per_s": round(len(docs) / secs), "peak_rss_mb": mem.peak >> 20,
                            "removed": stats["removed"], "phase_seconds": stats["dedup"]["phase_seconds"]})
        print(json.dumps(res["runs"][-1]), flush=True)
    with PeakRSS() as mem:
        secs, removed, _ = run_datasketch(docs, 14, 8)
    res["runs"].append({"method": "datasketch MinHashLSH (in memory)", "seconds": round(secs, 1),
                        "docs_per_s": round(len(docs) / secs), "peak_rss_mb": mem.peak >> 20,
                        "removed": len(removed)})
    print(json.dumps(res["runs"][-1]), flush=True)
    if not skip_datatrove:
        with PeakRSS() as mem:
            secs = run_datatrove(src, os.path.join(tmp, "datatrove"), 14, 8)
        res["runs"].append({"method": "datatrove 4-step minhash (whitespace tokenizer)", "seconds": round(secs, 1),
                            "docs_per_s": round(len(docs) / secs), "peak_rss_mb": mem.peak >> 20})
        print(json.dumps(res["runs"][-1]), flush=True)
        res["ratio_docs_per_s_vs_datatrove"] = round(res["runs"][0]["docs_per_s"] / res["runs"][3]["docs_per_s"], 2)
    res["ratio_docs_per_s_vs_datasketch"] = round(res["runs"][0]["docs_per_s"] / res["runs"][2]["docs_per_s"], 2)
    shutil.rmtree(tmp, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["signatures", "stage", "throughput", "clough", "all"])
    ap.add_argument("--throughput-docs", type=int, default=60000)
    ap.add_argument("--mb", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--docs", type=int, default=11000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args()
    res = {"cpu": os.cpu_count(), "note": "shared 2-core machine: medians, noisy; read the ratios"}
    if a.what in ("signatures", "all"):
        res["signatures"] = bench_signatures(a.mb, a.repeats)
        print(json.dumps(res["signatures"], indent=2), flush=True)
    if a.what in ("clough", "all"):
        res["clough_stevenson"] = bench_clough()
        print(json.dumps(res["clough_stevenson"], indent=2), flush=True)
    if a.what in ("stage", "all"):
        res["stage"] = bench_stage(a.docs, a.files, a.skip_datatrove)
        print(json.dumps(res["stage"], indent=2), flush=True)
    if a.what in ("throughput", "all"):
        res["throughput"] = bench_throughput(a.throughput_docs, a.files, a.skip_datatrove)
        print(json.dumps(res["throughput"], indent=2), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()

"""Many partitions, cheaply: the same step over 1k, 10k and 100k tiny partitions, on local disk and on S3.

    .venv/bin/python bench/partitions.py [--sizes 1000,10000,100000] [--s3-sizes 1000,10000] [--workers 2]

The step is ``filter`` (Gopher quality rules) over N Parquet files of one real CCNet document each
(``tests/data/text``), on a loopback cluster (``dask scheduler`` + ``--workers`` × ``dask worker --nthreads 1``,
bench/_cluster.py), into a local folder and into a bucket of a moto S3 server on 127.0.0.1. Each size runs
in a fresh client process, which reports per partition: client wall seconds, client CPU seconds and the
client's peak RSS above its baseline (after connecting), for a fresh run and for a rerun (every partition
finished, ``_SUCCESS`` removed: the run must find and merge N markers). Flat columns mean the client's cost
is per partition, not quadratic. The machine is shared: quote the ratios.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from _cluster import LoopbackCluster, MotoServer
from _common import REPO_ROOT, add_repo_to_path, machine_line, print_table

add_repo_to_path()

STEP = {"filters": [{"type": "gopher_quality"}]}


def write_inputs(folder: Path, n: int) -> None:
    """``n`` Parquet files of one real document each (ids made distinct)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    docs = []
    for name in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz"):
        with gzip.open(REPO_ROOT / "tests" / "data" / "text" / name, "rt", encoding="utf-8") as f:
            docs += [json.loads(x) for x in f if x.strip()]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        d = docs[i % len(docs)]
        pq.write_table(pa.table({"id": [f"{d['id']}#{i}"], "text": [d["text"]], "url": [d["id"]],
                                 "source": ["ccnet"]}), folder / f"part-{i:06d}.parquet")


def client_run(scheduler: str, inputs: str, out: str) -> dict:
    """In a fresh process: a fresh run and a rerun; per-run wall, CPU and peak RSS above the baseline."""
    import psutil
    from distributed import Client

    from corpus_forge.io import url_to_fs
    from corpus_forge.runner import run_stage
    from pipelines.filter import FilterStage

    me = psutil.Process()
    result = {}
    with Client(scheduler) as client:
        for phase in ("fresh", "rerun"):
            if phase == "rerun":
                fs, p = url_to_fs(out)
                fs.rm(p.rstrip("/") + "/_SUCCESS")
            base = me.memory_info().rss
            peak = [base]
            stop = threading.Event()

            def sample(peak: list[int] = peak, stop: threading.Event = stop) -> None:
                while not stop.wait(0.05):
                    peak[0] = max(peak[0], me.memory_info().rss)

            t = threading.Thread(target=sample, daemon=True)
            t.start()
            w0, c0 = time.perf_counter(), time.process_time()
            stats = run_stage(FilterStage.from_options(STEP), [inputs], out, client=client, progress=False)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            stop.set()
            t.join()
            result[phase] = {"wall": wall, "cpu": cpu, "rss": max(peak[0], me.memory_info().rss) - base,
                             "done": stats["partitions_done"], "documents_in": stats["documents_in"]}
    return result


def measure(scheduler: str, inputs: str, out: str, env: dict[str, str]) -> dict:
    cmd = [sys.executable, __file__, "--client", scheduler, inputs, out]
    got = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return json.loads(got.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--s3-sizes", default="1000,10000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/cf-partitions"))
    ap.add_argument("--client", nargs=3, metavar=("SCHEDULER", "INPUT", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        print(json.dumps(client_run(*args.client)))
        return
    shutil.rmtree(args.work, ignore_errors=True)
    rows = []
    plans = [("local", [int(x) for x in args.sizes.split(",") if x]),
             ("s3", [int(x) for x in args.s3_sizes.split(",") if x])]
    for store, sizes in plans:
        if not sizes:
            continue
        with MotoServer() if store == "s3" else _nothing() as moto:
            env = moto.env if moto else {}
            with LoopbackCluster(args.workers, "2GiB", args.work / f"scratch-{store}", env=env) as cluster:
                for n in sizes:
                    local_in = args.work / f"in-{n}"
                    if not local_in.exists():
                        write_inputs(local_in, n)
                    inputs, out = str(local_in), str(args.work / f"out-{store}-{n}")
                    if store == "s3":
                        import fsspec

                        fs = fsspec.filesystem("s3")
                        bucket = f"bench-{n}"
                        fs.mkdir(bucket)
                        fs.put(str(local_in) + "/", f"{bucket}/in/", recursive=True)
                        inputs, out = f"s3://{bucket}/in", f"s3://{bucket}/out"
                    t0 = time.perf_counter()
                    r = measure(cluster.address, inputs, out, env)
                    print(f"{store} {n}: {time.perf_counter() - t0:.0f} s  {json.dumps(r)}", flush=True)
                    rows.append((store, n, r))
    print(machine_line())
    table = []
    for store, n, r in rows:
        f, g = r["fresh"], r["rerun"]
        table.append({"store": store, "partitions": n, "fresh wall ms/part": 1e3 * f["wall"] / n,
                      "fresh client CPU ms/part": 1e3 * f["cpu"] / n, "fresh client RSS B/part": f["rss"] / n,
                      "rerun wall ms/part": 1e3 * g["wall"] / n, "rerun client CPU ms/part": 1e3 * g["cpu"] / n,
                      "rerun client RSS B/part": g["rss"] / n})
    print_table(table, floatfmt=".2f")


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    main()

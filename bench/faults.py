"""Fault runs: kills at random points, a full disk, reruns with other inputs, bombs; then count the damage.

    python bench/faults.py [--runs 3] [--work /tmp/cf_faults]

Each fault runs ``corpus-forge extract`` over the bundled samples cut into many partitions (small
``split_bytes``), compares the documents to a clean run and prints one table: fault, runs, identical outputs,
documents lost, documents duplicated. Faults:

- ``worker killed``: SIGKILL one Dask worker process at a random moment (the nanny restarts it, Dask retries);
- ``runner killed``: SIGKILL the whole command at a random moment, then rerun the same command;
- ``disk full``: ``--out`` on a 2 MiB tmpfs (needs root), then copy what is there to a roomy disk and rerun;
- ``inputs changed``: run on all but one file, then rerun with all of them (and the reverse);
- ``whole-file gzip bomb``: a 1 MB file that inflates to 1 GiB among the inputs (memory stays bounded, the
  record is counted).
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("corpus-forge"))
SAMPLES = sorted(str(p) for p in (REPO / "samples").glob("sample-*.warc.gz"))
SPLIT = "200000"  # about 20 partitions over the three samples


def extract(inputs: list[str], out: Path, *extra: str, wait: bool = True) -> subprocess.Popen | int:
    cmd = [EXE, "extract", *inputs, "--out", str(out), "--workers", "2", "--no-progress", "--split-bytes", SPLIT,
           *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    if not wait:
        return proc
    proc.communicate(timeout=900)
    return proc.returncode


def ids(out: Path) -> list[str]:
    return [i for f in sorted(out.glob("part-*.parquet")) for i in pq.read_table(f, columns=["id"])["id"].to_pylist()]


def damage(got: list[str], clean: list[str]) -> tuple[bool, int, int]:
    return sorted(got) == sorted(clean), len(set(clean) - set(got)), len(got) - len(set(got))


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    kids = [int(x) for x in out]
    return kids + [g for k in kids for g in _children(k)]


def worker_killed(work: Path, clean: list[str], rng: random.Random) -> tuple[bool, int, int]:
    out = work / f"wk-{rng.random():.6f}"
    proc = extract(SAMPLES, out, wait=False)
    time.sleep(rng.uniform(2.0, 6.0))
    workers = [p for p in _children(proc.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="ignore")]
    if workers:
        os.kill(rng.choice(workers), signal.SIGKILL)
    proc.communicate(timeout=900)
    if proc.returncode != 0:  # retries exhausted: a rerun finishes the job
        extract(SAMPLES, out)
    return damage(ids(out), clean)


def runner_killed(work: Path, clean: list[str], rng: random.Random) -> tuple[bool, int, int]:
    out = work / f"rk-{rng.random():.6f}"
    proc = extract(SAMPLES, out, wait=False)
    time.sleep(rng.uniform(1.0, 8.0))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    extract(SAMPLES, out)
    return damage(ids(out), clean)


def disk_full(work: Path, clean: list[str], rng: random.Random) -> tuple[bool, int, int] | None:
    if os.geteuid() != 0:
        return None
    mnt = work / f"tmpfs-{rng.random():.6f}"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        return None
    try:
        extract(SAMPLES, mnt / "x", "--keep-removed")
        roomy = work / f"roomy-{rng.random():.6f}"
        shutil.copytree(mnt / "x", roomy)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
    extract(SAMPLES, roomy, "--keep-removed")
    return damage(ids(roomy), clean)


def inputs_changed(work: Path, clean: list[str], rng: random.Random) -> tuple[bool, int, int]:
    out = work / f"ic-{rng.random():.6f}"
    drop = rng.choice(SAMPLES)
    extract([s for s in SAMPLES if s != drop], out)
    extract(SAMPLES, out)
    return damage(ids(out), clean)


def gzip_bomb(work: Path, clean: list[str], rng: random.Random) -> tuple[bool, int, int]:
    bomb = work / "bomb.warc.gz"
    if not bomb.exists():
        head = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://bomb.invalid/\r\n"
                b"WARC-Record-ID: <urn:uuid:bomb>\r\nContent-Type: application/http; msgtype=response\r\n"
                b"Content-Length: %d\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n")
        size = 1 << 30
        with gzip.open(bomb, "wb", compresslevel=9) as f:  # whole-file gzip, one member
            f.write(head % (size + 44))
            block = b"<p>" + b"a" * (1 << 20)
            for _ in range(size // len(block)):
                f.write(block)
    out = work / f"gb-{rng.random():.6f}"
    extract([*SAMPLES, str(bomb)], out)
    got = ids(out)
    return damage(got, clean)


FAULTS = {"worker killed": worker_killed, "runner killed": runner_killed, "disk full": disk_full,
          "inputs changed": inputs_changed, "whole-file gzip bomb": gzip_bomb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/cf_faults"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=None, choices=list(FAULTS))
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    if extract(SAMPLES, args.work / "clean") != 0:
        sys.exit("the clean run failed")
    clean = ids(args.work / "clean")
    rng = random.Random(args.seed)
    print(f"clean run: {len(clean)} documents from {len(SAMPLES)} files")
    print(f"{'fault':24} {'runs':>5} {'identical':>10} {'lost':>6} {'duplicated':>11}")
    for name, fn in FAULTS.items():
        if args.only and name not in args.only:
            continue
        results = [r for r in (fn(args.work, clean, rng) for _ in range(args.runs)) if r is not None]
        if not results:
            print(f"{name:24} {'skipped (needs root and tmpfs)':>35}")
            continue
        print(f"{name:24} {len(results):>5} {sum(r[0] for r in results):>10} {sum(r[1] for r in results):>6} "
              f"{sum(r[2] for r in results):>11}", flush=True)


if __name__ == "__main__":
    main()

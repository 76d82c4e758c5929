"""Options every Dask stage shares, and running a stage from parsed arguments."""

from __future__ import annotations

import argparse
import os
from typing import Any

from corpus_forge.config import load_yaml
from corpus_forge.stage import Stage


def add_stage_options(p: argparse.ArgumentParser) -> None:
    """--out, --scheduler, --workers, --keep-removed, --config, --no-progress, --debug."""
    g = p.add_argument_group("run options (every stage)")
    g.add_argument("--out", required=True, help="output directory (created; reruns skip finished partitions)")
    g.add_argument("--scheduler", default=None,
                   help="address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786 "
                        "(default: $DASK_SCHEDULER_ADDRESS, else an embedded LocalCluster)")
    g.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes (default: cores)")
    g.add_argument("--keep-removed", action="store_true", help="also write dropped documents to OUT/removed/")
    g.add_argument("--config", default=None, help="YAML file with this stage's options (keys as in a recipe)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar or summary table")


def config_from_args(args: argparse.Namespace, cli_options: dict[str, Any]) -> dict[str, Any]:
    """Options from ``--config`` (if any), overridden by options given on the command line (non-None)."""
    opts: dict[str, Any] = {}
    if getattr(args, "config", None):
        data = load_yaml(args.config) or {}
        if not isinstance(data, dict):
            from corpus_forge.config import ConfigError

            raise ConfigError(f"{args.config}: expected a mapping of option: value")
        opts.update(data)
    opts.update({k: v for k, v in cli_options.items() if v is not None})
    return opts


def run_stage_cli(stage: Stage, inputs: list[str], args: argparse.Namespace) -> int:
    """Run a stage as the CLI does: progress, summary table, exit status per the contract."""
    from corpus_forge.progress import print_summary
    from corpus_forge.runner import run_stage

    stats = run_stage(
        stage, inputs, args.out, scheduler=args.scheduler, workers=args.workers,
        keep_removed=args.keep_removed, progress=not args.no_progress,
    )
    if not args.no_progress:
        print_summary(stats, os.path.abspath(args.out))
    return exit_status(stats)


def exit_status(stats: dict[str, Any]) -> int:
    """0: all partitions done; 1: none could be processed; 3: some failed (rerun retries them)."""
    if stats.get("partitions_failed", 0) == 0:
        return 0
    if stats.get("partitions_done", 0) == 0:
        return 1
    return 3

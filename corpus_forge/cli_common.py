"""Commands generated for every step: positional inputs, the step's own options, and the run options."""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

from corpus_forge.config import ConfigError, load_yaml
from corpus_forge.io import absolute
from corpus_forge.options_cli import add_model_arguments, options_from_args
from corpus_forge.progress import print_summary
from corpus_forge.runner import run_stage, stage_failed
from corpus_forge.stage import Stage


def add_stage_options(p: argparse.ArgumentParser) -> None:
    """--out, --scheduler, --workers, --keep-removed, --config, --no-progress."""
    g = p.add_argument_group("run options (every step)")
    g.add_argument("--out", required=True, help="output directory or object-store URL, e.g. s3://bucket/prefix "
                   "(created; reruns skip finished partitions)")
    g.add_argument("--scheduler", default=None,
                   help="address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786 "
                        "(default: $DASK_SCHEDULER_ADDRESS, else an embedded LocalCluster)")
    g.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes (default: cores)")
    g.add_argument("--keep-removed", action="store_true", help="also write dropped documents to OUT/removed/")
    g.add_argument("--config", default=None, help="YAML file with this step's options (keys as in a recipe)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar or summary table")


def config_from_args(args: argparse.Namespace, cli_options: dict[str, Any]) -> dict[str, Any]:
    """Options from ``--config`` (if any), overridden by options given on the command line (non-None)."""
    opts: dict[str, Any] = {}
    if getattr(args, "config", None):
        data = load_yaml(args.config) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{args.config}: expected a mapping of option: value")
        opts.update(data)
    opts.update({k: v for k, v in cli_options.items() if v is not None})
    return opts


def register_step(sub: argparse._SubParsersAction, name: str, cls: type[Stage]) -> None:
    """The step's command: ``corpus-forge NAME INPUT... --flag ...`` (or its ``command`` path)."""
    doc = sys.modules[cls.__module__].__doc__ or cls.help
    path = cls.command or (name,)
    parent = sub
    for group in path[:-1]:
        gp = parent.add_parser(group, help=cls.help, description=doc,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        gp.set_defaults(func=lambda args, gp=gp: (gp.print_help(), 2)[1])
        parent = gp.add_subparsers(dest=f"{group}_command", metavar="SUBCOMMAND")
    p = parent.add_parser(path[-1], help=cls.help, description=doc,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    if cls.inputs_metavar:
        p.add_argument("inputs", nargs="+", metavar=cls.inputs_metavar, help=cls.inputs_help)
    add_model_arguments(p, cls.Config, title=f"{name} options (recipe keys: the flag names with _)")
    cls.add_cli_arguments(p)
    add_stage_options(p)
    p.set_defaults(func=functools.partial(run_step_command, cls))


def run_step_command(cls: type[Stage], args: argparse.Namespace) -> int:
    """Run a step as the CLI does: progress, summary table, exit status per the contract."""
    opts = cls.cli_options(config_from_args(args, options_from_args(cls.Config, args)), args)
    stage = cls.from_options(opts)
    stats = run_stage(
        stage, list(getattr(args, "inputs", None) or []), args.out, scheduler=args.scheduler, workers=args.workers,
        keep_removed=args.keep_removed, progress=not args.no_progress,
    )
    if not args.no_progress:
        print_summary(stats, absolute(args.out), cls)
    return exit_status(stats)


def exit_status(stats: dict[str, Any]) -> int:
    """0: all done; 1: nothing could be processed, or a systematic failure; 3: some partitions failed."""
    problem = stage_failed(stats)
    if problem:
        print(f"corpus-forge {stats.get('stage')}: {problem}", file=sys.stderr)
    if stats.get("systematic_failure") or stats.get("failed_phase"):
        return 1
    if stats.get("partitions_failed", 0) == 0:
        return 0
    if stats.get("partitions_done", 0) == 0:
        return 1
    return 3

"""``corpus-forge``: one subcommand per stage plus ``run``. Thin: parse, then call the stage module."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

from corpus_forge import __version__, registry
from corpus_forge.cli_common import register_step
from corpus_forge.config import ConfigError
from corpus_forge.io import InputError
from corpus_forge.runner import StageError


def _user_errors() -> tuple[type[BaseException], ...]:
    return (ConfigError, InputError, StageError, FileNotFoundError, PermissionError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corpus-forge",
        description="Common Crawl WARCs → curated, deduplicated, decontaminated, tokenized shards, on Dask.",
    )
    parser.add_argument("--version", action="version", version=f"corpus-forge {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and Dask logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in registry.ORDER:
        if name in registry.STEPS:
            register_step(sub, name, registry.step_class(name))
        else:
            registry.command_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
        os.environ["CORPUS_FORGE_DEBUG"] = "1"
    else:
        logging.getLogger("distributed").setLevel(logging.ERROR)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("corpus-forge: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as err:
        if debug:
            traceback.print_exc()
        print(f"corpus-forge {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

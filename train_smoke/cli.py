"""``corpus-forge train``: pretrain a small GPT on one packed mix (flags generated from :class:`TrainConfig`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from corpus_forge.cli_common import config_from_args
from corpus_forge.config import validate
from corpus_forge.options_cli import add_model_arguments, options_from_args
from train_smoke.config import TrainConfig

EXAMPLE = """\
examples:
  corpus-forge train --shards shards/curated --out runs/curated --max-steps 200       # CPU smoke run
  corpus-forge train --shards shards/curated --out runs/curated --max-steps 200 --resume  # after a kill: same curve
  corpus-forge train --shards shards/curated --out runs/gpt2 --model gpt2-124m --tokens 1000000000 --device cuda
  corpus-forge train --shards s3://bucket/shards/curated --out s3://bucket/runs/curated --max-steps 200  # object store
"""


def register(sub: argparse._SubParsersAction) -> None:
    from train_smoke import pretrain as train_module

    p = sub.add_parser("train", help="pretrain a small GPT on a packed mix (GPU, or CPU as a smoke check)",
                       description=train_module.__doc__, epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p, TrainConfig, title="train options (YAML keys: the flag names with _)")
    p.add_argument("--config", default=None, help="YAML file of train options; flags given override it")
    p.set_defaults(func=main)


def config_from(args: argparse.Namespace) -> TrainConfig:
    """The run's :class:`TrainConfig` from ``--config`` and the flags (an unknown key is one error naming it)."""
    opts: dict[str, Any] = config_from_args(args, options_from_args(TrainConfig, args))
    return validate(TrainConfig, opts, args.config or "train")  # paths stay strings: URLs are kept as given


def main(args: argparse.Namespace) -> int:
    from train_smoke.pretrain import train

    summary = train(config_from(args))
    keys = ("mix", "seed", "device", "params", "tokens_seen", "tokens_seen_by_source", "source_shares",
            "packed_shares", "tokens_per_second", "mfu", "val_loss", "val_bpb", "bpb_mean", "eval_bpb",
            "hellaswag_acc_norm")
    print(json.dumps({k: summary[k] for k in keys}, indent=2))
    return 0

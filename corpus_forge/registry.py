"""Every command of ``corpus-forge``, named once, in the order ``--help`` lists them.

A *step* is a :class:`corpus_forge.stage.Stage` subclass (``module:Class``): the runner runs it, its flags
and ``--help`` are generated from its ``Config``, and a recipe can use it. A *command* is a module with
``register(subparsers)`` (tools that are not steps: training one model, verifying shards, a report).
Adding a step: one module and one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

STEPS: dict[str, str] = {
    "extract": "pipelines.extract:ExtractStage",
    "filter": "pipelines.filter:FilterStage",
    "karma": "pipelines.karma:KarmaBuildStage",
    "dedup": "pipelines.dedup:DedupStage",
    "wikiref": "pipelines.wikiref:WikirefStage",
    "decontaminate": "pipelines.decontaminate:DecontaminateStage",
    "bpe": "tokenize_bpe.bpe:BpeStage",
    "pack": "tokenize_bpe.pack:PackStage",
    "ablate": "train_smoke.ablate:AblateStage",
    "mix-search": "train_smoke.search.stage:SearchStage",
}

COMMANDS: dict[str, str] = {
    "quality": "pipelines.quality",
    "shards": "tokenize_bpe.shards_cli",
    "train": "train_smoke.cli",
    "report": "corpus_forge.report",
    "run": "corpus_forge.recipe",
}

ORDER = ["extract", "filter", "quality", "karma", "dedup", "wikiref", "decontaminate", "bpe", "pack", "shards", "train",
         "ablate", "mix-search", "report", "run"]


def step_class(name: str) -> Any:
    """The Stage class registered as ``name`` (ImportError if its module is missing)."""
    module, _, cls = STEPS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def command_module(name: str) -> Any:
    return importlib.import_module(COMMANDS[name])

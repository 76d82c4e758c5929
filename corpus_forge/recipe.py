"""``corpus-forge run RECIPE.yaml --out DIR``: a whole pipeline, one subfolder per stage, then a report.

A recipe::

    name: webtext-demo
    inputs: [samples/*.warc.gz]
    stages:
      - extract: {time_limit: 5}
      - filter: {}
      - dedup: {}

Each stage reads the previous stage's output folder. Stage options are validated by the stage's own
model, so a misspelt key fails before any work starts, naming the stage and the key.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from corpus_forge.config import ConfigError, load_yaml, validate

STAGE_MODULES: dict[str, str] = {
    "extract": "pipelines.extract",
    "filter": "pipelines.filter",
    "dedup": "pipelines.dedup",
    "decontaminate": "pipelines.decontaminate",
}


class Recipe(BaseModel):
    """A pipeline recipe (YAML)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "recipe"
    description: str = ""
    inputs: list[str] = Field(default_factory=list)
    workers: int | None = None
    scheduler: str | None = None
    keep_removed: bool = False
    stages: list[dict[str, dict[str, Any] | None]] = Field(min_length=1)


def load_recipe(path: str) -> Recipe:
    recipe = validate(Recipe, load_yaml(path), os.path.basename(path))
    for i, entry in enumerate(recipe.stages):
        if len(entry) != 1:
            raise ConfigError(f"{path}: stages[{i}] must be one 'stage_name: {{options}}' mapping")
        (name,) = entry
        if name not in STAGE_MODULES:
            raise ConfigError(f"{path}: stages[{i}]: unknown stage {name!r} (one of {sorted(STAGE_MODULES)})")
    return recipe


def build_stages(recipe: Recipe, where: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """(name, module, options) per stage; stage options are validated now, before anything runs."""
    out = []
    for i, entry in enumerate(recipe.stages):
        ((name, options),) = entry.items()
        try:
            mod = importlib.import_module(STAGE_MODULES[name])
        except ModuleNotFoundError as err:
            raise ConfigError(f"{where}: stages[{i}]: stage {name!r} is not available ({err})") from None
        opts = options or {}
        try:
            if hasattr(mod, "validate_options"):
                mod.validate_options(opts)
            else:
                mod.from_options(opts)
        except ConfigError as err:
            raise ConfigError(f"{where}: stages[{i}].{err}") from None
        out.append((name, mod, opts))
    return out


def run_recipe(recipe: Recipe, out_dir: str, *, where: str = "recipe", inputs: list[str] | None = None,
               scheduler: str | None = None, workers: int | None = None, keep_removed: bool | None = None,
               progress: bool = True, client: Any = None) -> list[dict[str, Any]]:
    """Run every stage in order on one Dask client; return each stage's stats."""
    from corpus_forge.progress import print_summary
    from corpus_forge.report import write_report
    from corpus_forge.runner import StageError, run_stage

    stages = build_stages(recipe, where)
    current = list(inputs or recipe.inputs)
    if not current:
        raise ConfigError(f"{where}: no inputs (give 'inputs:' in the recipe or --input)")
    keep = recipe.keep_removed if keep_removed is None else keep_removed
    os.makedirs(out_dir, exist_ok=True)
    all_stats: list[dict[str, Any]] = []
    with _client(client, scheduler or recipe.scheduler, workers or recipe.workers, progress) as client:
        for i, (name, mod, opts) in enumerate(stages, start=1):
            stage_out = os.path.join(out_dir, f"{i:02d}-{name}")
            if hasattr(mod, "run_recipe_stage"):  # stages with a global step (dedup) run themselves
                stats = mod.run_recipe_stage(opts, current, stage_out, client=client,
                                             keep_removed=keep, progress=progress)
            else:
                stats = run_stage(mod.from_options(opts), current, stage_out, client=client,
                                  keep_removed=keep, progress=progress)
            if progress:
                print_summary(stats, stage_out)
            all_stats.append(stats)
            if stats.get("partitions_failed"):
                write_report(out_dir, title=recipe.name)
                raise StageError(f"stage {name}: {stats['partitions_failed']} partition(s) failed; "
                                 f"rerun the same command to retry them (see {stage_out}/stats.json)")
            current = [stage_out]
    write_report(out_dir, title=recipe.name)
    return all_stats


@contextlib.contextmanager
def _client(client: Any, scheduler: str | None, workers: int | None, progress: bool) -> Iterator[Any]:
    from corpus_forge.cluster import get_client

    if client is not None:
        yield client
        return
    with get_client(scheduler, workers, quiet=not progress) as c:
        yield c


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a whole recipe (YAML): one subfolder per stage, plus a report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", help="recipe YAML, e.g. pipelines/recipes/webtext.yaml")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--input", action="append", default=None, help="override the recipe's inputs (repeatable)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (default: LocalCluster)")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes")
    p.add_argument("--keep-removed", action="store_const", const=True, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    run_recipe(recipe, args.out, where=args.recipe, inputs=args.input, scheduler=args.scheduler,
               workers=args.workers, keep_removed=args.keep_removed, progress=not args.no_progress)
    if not args.no_progress:
        print(f"report: {os.path.join(os.path.abspath(args.out), 'report.html')}")
    return 0

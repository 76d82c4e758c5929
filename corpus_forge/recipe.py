"""``corpus-forge run RECIPE.yaml --out DIR``: a whole pipeline, one subfolder per step, then a report.

A recipe::

    name: webtext-demo
    inputs: [samples/*.warc.gz]
    stages:
      - karma: {inputs: [dumps/RS_*.zst]}              # a step's own inputs
      - extract: {url_filters: [{type: karma, table: "@karma"}]}   # "@ID" = that earlier step's output
      - filter: {}
      - dedup: {}
      - filter: {id: quality, filters: [{type: quality}]}
      - bpe: {vocab_size: 8192}

Each step writes ``DIR/NN-ID`` (ID = the step's ``id``, by default its name). A step reads the output of the
previous step that writes documents (the recipe's ``inputs`` for the first), unless it names its own
``inputs``. A string ``"@ID"`` or ``"@ID/sub/path"`` anywhere in a step's options is that earlier step's output
folder. Every step's options are validated by its own model before any work starts, so a misspelt key or a
reference to no earlier step fails at once, naming the step and the key. Steps already complete (``_SUCCESS``,
same configuration and inputs) are skipped; ``--from ID`` / ``--until ID`` run part of the recipe.

``--set ID.KEY=VALUE`` (repeatable) changes one option of one step for this run without editing the file, as
Hydra's overrides do for NeMo: ``--set ablate.tokens=20000``, ``--set extract.url_filters=[]``,
``--set quality.filters.0.fraction=0.3`` (a number indexes a list). VALUE is read as YAML; the result is
validated like the file, so a misspelt key fails naming the step and the key.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from corpus_forge import registry
from corpus_forge.config import ConfigError, load_yaml, validate
from corpus_forge.io import InputError, absolute, make_dirs, matches, path_exists
from corpus_forge.progress import print_summary
from corpus_forge.report import write_report
from corpus_forge.runner import StageError, _client, run_stage, stage_failed
from corpus_forge.stage import Stage

RESERVED = ("id", "inputs")


class Recipe(BaseModel):
    """A pipeline recipe (YAML)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("recipe", description="the run's name (the report's title)")
    description: str = Field("", description="what the recipe does, for the reader")
    inputs: list[str] = Field(default_factory=list, description="the first step's inputs (paths, globs, URLs); "
                                                                "--input overrides them")
    workers: int | None = Field(None, ge=1, description="LocalCluster worker processes (default: cores)")
    scheduler: str | None = Field(None, description="address of a running Dask scheduler (default: a LocalCluster)")
    keep_removed: bool = Field(False, description="every step also writes its dropped documents to removed/")
    stages: list[dict[str, dict[str, Any] | None]] = Field(
        min_length=1, description="the steps in order, each '- STEP: {options}' (plus id: and inputs:)")


@dataclass
class Step:
    """One resolved recipe step: its id, output folder, inputs and the validated stage object."""

    index: int
    id: str
    name: str
    out: str
    inputs: list[str]
    stage: Stage


def load_recipe(path: str) -> Recipe:
    recipe = validate(Recipe, load_yaml(path), os.path.basename(path))
    for i, entry in enumerate(recipe.stages):
        if len(entry) != 1:
            raise ConfigError(f"{path}: stages[{i}] must be one 'stage_name: {{options}}' mapping")
        (name,) = entry
        if name not in registry.STEPS:
            raise ConfigError(f"{path}: stages[{i}]: unknown stage {name!r} (one of {sorted(registry.STEPS)})")
    return recipe


def apply_sets(recipe: Recipe, sets: list[str] | None, where: str = "--set") -> Recipe:
    """``recipe`` with each ``ID.KEY[.SUB...]=VALUE`` applied to the options of the step whose id is ID (its
    ``id:``, else its stage name; a name that several steps share must be given as an ``id:``)."""
    if not sets:
        return recipe
    import yaml

    stages = [{name: _copy(opts or {})} for entry in recipe.stages for name, opts in entry.items()]
    for item in sets:
        path, eq, raw = item.partition("=")
        keys = path.strip().split(".")
        if not eq or len(keys) < 2 or not all(keys):
            raise ConfigError(f"{where} {item!r}: expected ID.KEY=VALUE, e.g. ablate.tokens=20000")
        ids = [str((opts or {}).get("id") or name) for e in stages for name, opts in e.items()]
        hits = [i for i, sid in enumerate(ids) if sid == keys[0]]
        if len(hits) != 1:
            why = "no step has" if not hits else f"{len(hits)} steps have"
            raise ConfigError(f"{where} {item!r}: {why} the id {keys[0]!r} (ids: {', '.join(ids)})")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(f"{where} {item!r}: VALUE is not YAML ({str(err).splitlines()[0]})") from None
        ((_, opts),) = stages[hits[0]].items()
        _set_path(opts, keys[1:], value, f"{where} {item!r}")
    return recipe.model_copy(update={"stages": stages})


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _set_path(node: Any, keys: list[str], value: Any, where: str) -> None:
    """Set ``node[k0][k1]...= value``: dicts gain missing keys, lists take an index in range."""
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"{where}: {key!r} is not an index of a list of {len(node)}")
            idx: Any = int(key)
        elif isinstance(node, dict):
            idx = key
            if not last and node.get(key) is None:
                node[key] = {}
        else:
            raise ConfigError(f"{where}: {keys[depth - 1]!r} is a value, not a mapping")
        if last:
            node[idx] = value
        else:
            node = node[idx]


def _resolve(value: Any, outputs: dict[str, str], where: str) -> Any:
    """Replace ``"@ID"`` / ``"@ID/sub"`` strings by earlier steps' output folders, recursively."""
    if isinstance(value, str) and value.startswith("@"):
        ref, _, rest = value[1:].partition("/")
        if ref not in outputs:
            known = ", ".join(outputs) or "none yet"
            raise ConfigError(f"{where}: {value!r} names no earlier step (earlier: {known})")
        return os.path.join(outputs[ref], rest) if rest else outputs[ref]
    if isinstance(value, list):
        return [_resolve(v, outputs, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _resolve(v, outputs, f"{where}.{k}") for k, v in value.items()}
    return value


def _refers(value: Any) -> bool:
    """True when ``value`` names an earlier step's output (which does not exist before the run)."""
    if isinstance(value, str):
        return value.startswith("@")
    if isinstance(value, list):
        return any(_refers(v) for v in value)
    if isinstance(value, dict):
        return any(_refers(v) for v in value.values())
    return False


def _check_now(stage: Stage, inputs: list[str], where: str, refers: bool, literal_inputs: bool) -> None:
    """Missing files fail before any work: the step's literal inputs, and what its options name (``check``)."""
    if literal_inputs and not refers:
        for item in inputs:
            try:
                matches(item)
            except InputError as err:
                raise ConfigError(f"{where}.inputs: {err}") from None
    if not refers:
        try:
            stage.check()
        except (InputError, ConfigError, FileNotFoundError) as err:
            raise ConfigError(f"{where}: {err}") from None


def build_steps(recipe: Recipe, out_dir: str, where: str, inputs: list[str] | None = None) -> list[Step]:
    """Resolve and validate every step now, before anything runs."""
    outputs: dict[str, str] = {}
    current = list(inputs or recipe.inputs)
    steps: list[Step] = []
    for i, entry in enumerate(recipe.stages):
        ((name, options),) = entry.items()
        opts = dict(options or {})
        here = f"{where}: stages[{i}].{name}"
        explicit = opts.pop("id", None)
        sid = str(explicit or name)
        if explicit is not None and sid in outputs:
            raise ConfigError(f"{here}.id: {sid!r} is already the id of an earlier step")
        try:
            cls = registry.step_class(name)
        except ModuleNotFoundError as err:
            raise ConfigError(f"{here}: stage {name!r} is not available ({err})") from None
        own = opts.pop("inputs", None)
        refers = _refers(opts) or _refers(own)
        opts = _resolve(opts, outputs, here)
        if own is not None:
            step_inputs = _resolve(list(own) if isinstance(own, list) else [own], outputs, f"{here}.inputs")
        elif cls.inputs_metavar is None:
            step_inputs = []
        else:
            step_inputs = list(current)
        if cls.inputs_metavar is not None and not step_inputs:
            raise ConfigError(f"{here}: no inputs (give 'inputs:' in the recipe or the step, or --input)")
        try:
            stage = cls.from_options(opts)
        except ConfigError as err:
            raise ConfigError(f"{where}: stages[{i}].{err}") from None
        _check_now(stage, step_inputs, here, refers, own is not None or i == 0)
        out = os.path.join(out_dir, f"{i + 1:02d}-{sid}")
        steps.append(Step(i, sid, name, out, step_inputs, stage))
        outputs[sid] = out  # a repeated name refers to the latest step of that name
        if cls.writes_documents:
            current = [out]
    return steps


def _select(steps: list[Step], start: str | None, until: str | None) -> list[Step]:
    ids = [s.id for s in steps]
    for flag, value in (("--from", start), ("--until", until)):
        if value is not None and value not in ids:
            raise ConfigError(f"{flag} {value!r}: no such step (steps: {', '.join(ids)})")
    lo = ids.index(start) if start else 0
    hi = ids.index(until) + 1 if until else len(steps)
    for s in steps[:lo]:
        if not path_exists(os.path.join(s.out, "_SUCCESS")):
            raise ConfigError(f"--from {start}: earlier step {s.id} has not completed ({s.out})")
    return steps[lo:hi]


def run_recipe(recipe: Recipe, out_dir: str, *, where: str = "recipe", inputs: list[str] | None = None,
               scheduler: str | None = None, workers: int | None = None, keep_removed: bool | None = None,
               progress: bool = True, client: Any = None, start: str | None = None,
               until: str | None = None) -> list[dict[str, Any]]:
    """Run the steps in order on one Dask client; return each step's stats."""
    out_dir = absolute(out_dir)
    steps = _select(build_steps(recipe, out_dir, where, inputs), start, until)
    keep = recipe.keep_removed if keep_removed is None else keep_removed
    make_dirs(out_dir)
    all_stats: list[dict[str, Any]] = []
    with _client(client, scheduler or recipe.scheduler, workers or recipe.workers, progress) as c:
        for step in steps:
            stats = run_stage(step.stage, step.inputs, step.out, client=c, keep_removed=keep, progress=progress)
            if progress:
                print_summary(stats, step.out, step.stage)
            all_stats.append(stats)
            problem = stage_failed(stats)
            if problem:
                write_report(out_dir, title=recipe.name)
                raise StageError(f"step {step.id}: {problem}; rerun the same command to retry "
                                 f"(see {step.out}/stats.json)")
    write_report(out_dir, title=recipe.name)
    return all_stats


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a whole recipe (YAML): one subfolder per step, plus a report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", help="recipe YAML, e.g. pipelines/recipes/webtext.yaml")
    p.add_argument("--out", required=True, help="output directory or object-store URL (s3://bucket/prefix)")
    p.add_argument("--input", action="append", default=None, help="override the recipe's inputs (repeatable)")
    p.add_argument("--from", dest="start", default=None, metavar="ID", help="start at this step (earlier ones done)")
    p.add_argument("--until", default=None, metavar="ID", help="stop after this step")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (default: LocalCluster)")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes")
    p.add_argument("--keep-removed", action="store_const", const=True, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--set", dest="sets", action="append", default=None, metavar="ID.KEY=VALUE",
                   help="change one step's option for this run (repeatable; VALUE is YAML), e.g. ablate.tokens=20000")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    recipe = apply_sets(load_recipe(args.recipe), args.sets)
    run_recipe(recipe, args.out, where=args.recipe, inputs=args.input, scheduler=args.scheduler,
               workers=args.workers, keep_removed=args.keep_removed, progress=not args.no_progress,
               start=args.start, until=args.until)
    if not args.no_progress:
        print(f"report: {os.path.join(absolute(args.out), 'report.html')}")
    return 0

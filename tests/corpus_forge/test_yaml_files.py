"""Every YAML the project ships (``pipelines/**/*.yaml``, ``docs/**/*.yaml``) and every YAML block of the docs
(``docs/*.md``, ``README.md``) validates against the model that reads it: a recipe (``stages:``) as ``run``
would (every step's options, from the repository root), a mix file (``mixes:`` of ``sources:``) as ``pack``
would. A path under ``demo-out/`` must be a folder the demo recipe writes there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from corpus_forge.config import validate
from corpus_forge.recipe import Recipe, build_steps, load_recipe
from tokenize_bpe.mix import MixFile

REPO = Path(__file__).resolve().parents[2]
DEMO_RECIPE = REPO / "pipelines" / "recipes" / "webtext.yaml"  # what `make demo` runs into demo-out/
FILES = sorted([*REPO.glob("pipelines/**/*.yaml"), *REPO.glob("docs/**/*.yaml"), *REPO.glob("docs/**/*.yml")])
DOCS = sorted([*REPO.glob("docs/**/*.md"), REPO / "README.md"])


def yaml_blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        for i, m in enumerate(re.finditer(r"```ya?ml\n(.*?)```", doc.read_text(), re.S)):
            out.append((f"{doc.relative_to(REPO)}#yaml{i}", m.group(1)))
    return out


def demo_folders() -> set[str]:
    return {Path(s.out).name for s in build_steps(load_recipe(str(DEMO_RECIPE)), "demo-out", "webtext.yaml")}


def check_paths(paths: list[str], where: str) -> None:
    folders = demo_folders()
    for p in paths:
        if p.startswith("demo-out/"):
            assert p.split("/")[1] in folders, f"{where}: {p} is no folder of the demo recipe ({sorted(folders)})"
        elif not p.startswith("@"):
            assert list(REPO.glob(p)), f"{where}: {p} does not exist"


def check(data: object, where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Validate ``data`` by what it is; return the kind."""
    assert isinstance(data, dict), f"{where}: not a mapping"
    monkeypatch.chdir(REPO)  # the shipped files name paths relative to the repository root
    if "stages" in data:
        build_steps(validate(Recipe, data, where), str(tmp_path / "out"), where)
        return "recipe"
    if "mixes" in data and all(isinstance(m, dict) and "sources" in m for m in data["mixes"].values()):
        mix = validate(MixFile, data, where)
        check_paths([p for spec in mix.mixes.values() for s in spec.sources for p in s.paths], where)
        return "mix"
    if "proxies" in data or "verify" in data:  # a mix search file
        from train_smoke.search.config import SearchConfig

        cfg = validate(SearchConfig, data, where)
        check_paths([*cfg.sources.values(), *([cfg.tokenizer] if cfg.tokenizer else []), *(cfg.eval or [])], where)
        return "search"
    raise AssertionError(f"{where}: neither a recipe (stages:), a mix file (mixes: of sources:) nor a search file")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_yaml_file_validates(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check(yaml.safe_load(path.read_text()), str(path.relative_to(REPO)), tmp_path, monkeypatch)


@pytest.mark.parametrize("where, text", yaml_blocks(), ids=lambda x: x if "#yaml" in str(x) else "")
def test_every_yaml_block_of_the_docs_validates(where: str, text: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    check(yaml.safe_load(text), where, tmp_path, monkeypatch)


def test_the_files_and_blocks_are_found_and_a_stale_folder_is_caught(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    names = {p.name for p in FILES}
    assert {"webtext.yaml", "fineweb.yaml", "mix-demo.yaml"} <= names and yaml_blocks()
    stale = yaml.safe_load((REPO / "pipelines" / "recipes" / "mix-demo.yaml").read_text())
    stale["mixes"]["raw"]["sources"][0]["path"] = "demo-out/01-extract"  # the folder's name before karma ran first
    with pytest.raises(AssertionError, match="01-extract is no folder of the demo recipe"):
        check(stale, "mix-demo.yaml", tmp_path, monkeypatch)

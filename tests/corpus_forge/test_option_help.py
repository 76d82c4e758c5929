"""Every option is explained: each field of every config model a user can set (every registered step's and
command's options, every filter's, the models nested in them, the recipe's keys) has a help text, which
``--help`` shows. One test per model, so a failure names the model and its fields."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel

from corpus_forge import registry
from corpus_forge.config import StageConfig
from corpus_forge.recipe import Recipe
from filters.base import available_filters


def _subclasses(cls: type) -> list[type]:
    return [c for s in cls.__subclasses__() for c in (s, *_subclasses(s))]


def _nested(annotation: object) -> list[type[BaseModel]]:
    own = [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    return own + [m for a in typing.get_args(annotation) for m in _nested(a)]


def config_models() -> list[type[BaseModel]]:
    """The models of every registered step and command and of every filter, and those nested in them."""
    for name in registry.STEPS:
        registry.step_class(name)
    for name in registry.COMMANDS:
        registry.command_module(name)
    available_filters()
    seen: dict[type[BaseModel], None] = {}
    todo: list[type[BaseModel]] = [Recipe, *_subclasses(StageConfig)]
    while todo:
        model = todo.pop()
        if model not in seen:
            seen[model] = None
            todo += [m for f in model.model_fields.values() for m in _nested(f.annotation)]
    return sorted(seen, key=lambda m: f"{m.__module__}.{m.__qualname__}")


MODELS = config_models()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.__module__}.{m.__qualname__}")
def test_every_option_has_a_help_text(model: type[BaseModel]) -> None:
    unexplained = [name for name, f in model.model_fields.items() if len((f.description or "").split()) < 2]
    assert unexplained == [], f"{model.__module__}.{model.__qualname__}: no help text for {unexplained}"


def test_the_models_of_every_step_and_filter_are_checked() -> None:
    names = {m.__qualname__ for m in MODELS}
    for step in registry.STEPS:
        assert registry.step_class(step).Config in MODELS, step
    assert {"Recipe", "AblateConfig", "MixFile", "MixSpec", "SourceSpec", "BenchmarkSpec", "KarmaFilterConfig",
            "C4Config",
            "GopherQualityConfig", "QualityConfig"} <= names
    assert len(MODELS) >= 25 and sum(len(m.model_fields) for m in MODELS) >= 200

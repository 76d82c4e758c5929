"""Every step's context (what ``prepare`` returns and the runner broadcasts) is one frozen dataclass, or None:
no string-keyed dicts, nothing a task could change under another. train_smoke's ablate is the lead's, apart."""

from __future__ import annotations

import dataclasses
import types
import typing

import pytest

from corpus_forge.registry import STEPS, step_class
from corpus_forge.stage import Stage

APART = {"ablate"}  # train_smoke/ablate.py: its own change (issue 24 item 4)


def context_types(cls: type[Stage]) -> list[type]:
    """The types ``cls.prepare`` is declared to return (None dropped); [] when it keeps the base's None."""
    if cls.prepare is Stage.prepare:
        return []
    ret = typing.get_type_hints(cls.prepare)["return"]
    args = typing.get_args(ret) if isinstance(ret, types.UnionType) or typing.get_origin(ret) is typing.Union \
        else (ret,)
    return [a for a in args if a is not type(None)]


@pytest.mark.parametrize("name", sorted(set(STEPS) - APART))
def test_context_is_a_frozen_dataclass(name):
    for t in context_types(step_class(name)):
        assert dataclasses.is_dataclass(t), f"{name}: prepare returns {t}, not a dataclass"
        assert t.__dataclass_params__.frozen, f"{name}: {t.__name__} is not frozen"


def test_the_check_sees_a_dict_context():
    class DictStep(Stage):
        def prepare(self, partitions, run) -> dict[str, str]:
            return {}

    (t,) = context_types(DictStep)
    assert not dataclasses.is_dataclass(t)

"""Command-line flags generated from a step's config model: each option is declared once, as a field.

A field ``max_html_bytes: int = Field(2 * 2**20, description="...")`` becomes ``--max-html-bytes N`` with
its description and default as help; a ``bool`` becomes ``--name/--no-name``; a list becomes a repeatable
flag; structured values (filters, specs) are given as inline YAML. Values are validated by the model, so a
bad value names its key exactly as in a recipe. ``json_schema_extra={"flag": "--url-filter"}`` renames a
flag; ``{"cli": False}`` keeps a field out of the command line (recipe or ``--config`` only).
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

SCALARS = (int, float, str)


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _extra(info: FieldInfo) -> dict[str, Any]:
    return info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}


def flag_name(name: str, info: FieldInfo) -> str:
    return str(_extra(info).get("flag") or "--" + name.replace("_", "-"))


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    else:
        value = info.default
    if value is None or value == [] or value == {}:
        return "none"
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [v.model_dump(mode="json", exclude_defaults=True) for v in value]
    return str(value)


def _yaml_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # the model names the key when the value is wrong


def add_model_arguments(parser: argparse.ArgumentParser, model: type[BaseModel], title: str = "options") -> None:
    """One flag per field of ``model`` (defaults None: only what the user gives overrides the config)."""
    group = parser.add_argument_group(title)
    for name, info in model.model_fields.items():
        extra = _extra(info)
        if extra.get("cli") is False:
            continue
        ann = _unwrap(info.annotation)
        origin = typing.get_origin(ann)
        desc = (info.description or "").rstrip(".")
        kwargs: dict[str, Any] = {"dest": f"opt_{name}", "default": None}
        if ann is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
            help_ = f"{desc} (default: {'on' if info.default else 'off'})"
        elif origin is Literal:
            kwargs["choices"] = [str(c) for c in typing.get_args(ann)]
            help_ = f"{desc} (default: {info.default})"
        elif ann in SCALARS:
            kwargs["metavar"] = extra.get("metavar") or ("N" if ann in (int, float) else "TEXT")
            help_ = f"{desc} (default: {_default_text(info)})"
        elif origin is list:
            (inner,) = typing.get_args(ann) or (Any,)
            kwargs["action"] = "append"
            kwargs["metavar"] = extra.get("metavar") or ("VALUE" if inner is str else "YAML")
            if inner is not str:
                kwargs["type"] = _yaml_value
            help_ = f"{desc}; repeatable (default: {_default_text(info)})"
        else:
            kwargs["type"] = _yaml_value
            kwargs["metavar"] = extra.get("metavar") or "YAML"
            help_ = f"{desc}, as inline YAML (default: {_default_text(info)})"
        if not desc:  # "(default: x)" alone reads better without the parentheses
            help_ = help_.strip().removeprefix("(").removesuffix(")").lstrip("; ")
        group.add_argument(flag_name(name, info), help=help_.strip(), **kwargs)


def options_from_args(model: type[BaseModel], args: argparse.Namespace) -> dict[str, Any]:
    """The options the user gave on the command line, keyed by field name."""
    out: dict[str, Any] = {}
    for name in model.model_fields:
        value = getattr(args, f"opt_{name}", None)
        if value is not None:
            out[name] = value
    return out

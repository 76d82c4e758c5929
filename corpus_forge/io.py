"""Inputs and outputs through fsspec: local paths, globs, ``http(s)://``, ``s3://``, CC path listings."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from corpus_forge.http_retry import configure_http_retries, surfaced

CC_PREFIX = "https://data.commoncrawl.org/"
TMP_PREFIX = ".tmp-"
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 3}


#: botocore's retry policy for ``s3://`` (a throttled request, ``SlowDown`` / HTTP 503, backs off and is
#: retried; "adaptive" also slows this process's request rate after throttling). s3fs retries SlowDown five
#: more times around it. ``AWS_RETRY_MODE`` / ``AWS_MAX_ATTEMPTS``, or the user's fsspec config, take precedence.
S3_RETRIES: dict[str, Any] = {"mode": "adaptive", "total_max_attempts": 10}


def configure_s3_retries() -> None:
    """Give ``s3://`` filesystems :data:`S3_RETRIES` (every process imports this module: client and workers)."""
    if os.environ.get("AWS_RETRY_MODE") or os.environ.get("AWS_MAX_ATTEMPTS"):
        return
    conf = fsspec.config.conf.setdefault("s3", {})
    conf.setdefault("config_kwargs", {}).setdefault("retries", dict(S3_RETRIES))


configure_s3_retries()
configure_http_retries()  # http(s):// reads retry throttling with backoff (corpus_forge/http_retry.py)


class InputError(ValueError):
    """An input could not be resolved (missing file, empty glob, unreadable listing)."""


def is_url(path: str | os.PathLike) -> bool:
    """True for an fsspec URL (``s3://``, ``gs://``, ``http(s)://``, ``memory://``), false for a local path."""
    path = str(path)
    return "://" in path and not path.startswith("file://")


def absolute(path: str | os.PathLike) -> str:
    """A local path made absolute; a URL as it is."""
    return str(path) if is_url(path) else os.path.abspath(path)


def url_to_fs(path: str | os.PathLike) -> tuple[Any, str]:
    """(filesystem, path within it) of a local path or URL; InputError when this URL's filesystem package is
    not installed (s3fs for ``s3://``, gcsfs for ``gs://``, …)."""
    try:
        return fsspec.core.url_to_fs(str(path))
    except ImportError as err:
        raise _no_filesystem(path, err) from None


def _no_filesystem(path: str | os.PathLike, err: ImportError) -> InputError:
    hint = " (pip install 'corpus-forge[s3]')" if str(path).startswith(("s3://", "s3a://")) else ""
    return InputError(f"{path}: {err}{hint}")


def _full(fs: Any, p: str, like: str | os.PathLike) -> str:
    """A path fsspec listed, spelled as the caller's ``like`` is (with its protocol when it has one)."""
    return fs.unstrip_protocol(p) if is_url(like) else p


def _read_listing(path: str, prefix: str) -> list[str]:
    with fsspec.open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    lines = [ln.strip() for ln in raw.decode("utf-8").splitlines() if ln.strip()]
    return [ln if "://" in ln else prefix.rstrip("/") + "/" + ln.lstrip("/") for ln in lines]


def matches(item: str) -> tuple[Any, list[str]]:
    """The filesystem and the paths a path, glob or URL stands for (InputError when nothing matches)."""
    try:
        fs, _, paths = fsspec.get_fs_token_paths(item)
    except ImportError as err:
        raise _no_filesystem(item, err) from None
    if not paths:
        raise InputError(f"no input matches {item!r}")
    return fs, paths


def expand_inputs(inputs: list[str], prefix: str = CC_PREFIX) -> list[str]:
    """Resolve paths, globs, URLs and ``*.paths(.gz)`` listings into a sorted, de-duplicated list.

    A directory stands for the files inside it. A listing's relative lines get ``prefix`` (the
    Common Crawl host by default; a local mirror works too).
    """
    out: list[str] = []
    with surfaced(InputError):  # a URL still throttled after the retries: one line naming it
        for item in inputs:
            _expand_one(item, prefix, out)
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def _expand_one(item: str, prefix: str, out: list[str]) -> None:
    if item.endswith((".paths", ".paths.gz")):
        out.extend(_read_listing(item, prefix))
        return
    fs, paths = matches(item)
    for p in paths:
        if fs.isdir(p):
            found = sorted(x for x in fs.find(p) if not os.path.basename(x).startswith((".", "_")))
            out.extend(_full(fs, x, item) for x in found)
        elif fs.exists(p):
            out.append(_full(fs, p, item))
        else:
            raise InputError(f"input not found: {item!r}")


def stage_output_files(inputs: list[str]) -> list[str]:
    """The ``part-*.parquet`` files of one or more stage output directories (or Parquet files)."""
    files: list[str] = []
    for item in inputs:
        fs, paths = matches(item)
        for p in paths:
            if fs.isdir(p):
                found = sorted(fs.glob(p.rstrip("/") + "/part-*.parquet"))
                if not found:
                    raise InputError(f"{item!r} holds no part-*.parquet (is it a stage's --out?)")
                files.extend(_full(fs, x, item) for x in found)
            elif p.endswith(".parquet"):
                files.append(_full(fs, p, item))
            else:
                raise InputError(f"{item!r} is neither a stage output directory nor a .parquet file")
    return files


def compression_of(head: bytes) -> str | None:
    """``gz``, ``bz2``, ``xz`` or ``zst`` from a file's first bytes (None: not compressed, or unknown)."""
    for magic, kind in ((b"\x1f\x8b", "gz"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zst")):
        if head.startswith(magic):
            return kind
    return None


def safe_key(text: str, limit: int = 80) -> str:
    """A filesystem-safe fragment of ``text`` for partition keys."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[-limit:].strip("._") or "part"


def path_key(path: str, label: str | None = None, limit: int = 60) -> str:
    """A partition key from what an input *is*: a readable fragment of its name plus a hash of its path.

    Never from its position in the input list: adding or removing an input renames nothing else.
    """
    base = label if label is not None else os.path.basename(path.split("?")[0])
    digest = hashlib.sha1(path.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{safe_key(base, limit)}-{digest}"


@contextlib.contextmanager
def open_binary(path: str | os.PathLike) -> Iterator[Any]:
    """``fsspec.open(path, "rb")``, where an ``http(s)://`` read still throttled after its retries raises
    :class:`~corpus_forge.http_retry.RetriesExhausted` naming the URL (fsspec would say "file not found")."""
    with surfaced(), fsspec.open(str(path), "rb") as f:
        yield f


def read_parquet(path: str, start: int = 0, end: int | None = None, columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet file through fsspec (rows ``start:end`` when set)."""
    with fsspec.open(path, "rb") as f:
        table = pq.read_table(f, columns=columns)
    if start or end is not None:
        table = table.slice(start, (end or table.num_rows) - start)
    return table


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a local temporary file name for ``path``; the file becomes ``path`` when the block succeeds and
    is removed when it fails, so a crash or a full disk leaves neither a half-written file nor debris. For
    writers that want a file name (torch, fastText, matplotlib, np.save).

    Local: the temporary name sits beside ``path`` (one :func:`sweep_temporary` recognises) and is renamed.
    Object store: a local temporary file is uploaded when the block succeeds (an object appears whole).
    """
    fs, p = url_to_fs(path)
    parent, base = os.path.split(p)
    if not is_url(path):
        fs.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f"{TMP_PREFIX}{uuid.uuid4().hex}-{base}")
        try:
            yield tmp
            fs.mv(tmp, p)
        except BaseException:
            _discard(fs, tmp)
            raise
        return
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=f"-{base}")
    os.close(fd)
    try:
        yield tmp
        fs.put_file(tmp, p)
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """:func:`atomic_path`'s temporary file, opened for writing (``"w"``: UTF-8 text)."""
    with atomic_path(path) as tmp, open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        yield f


def write_parquet_atomic(table: pa.Table, path: str) -> None:
    """Write ``table`` to ``path`` under a temporary name, then rename (no half-written files)."""
    with atomic_write(path) as f:
        pq.write_table(table, f, **PARQUET_OPTIONS)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text under a temporary name, then rename (or upload)."""
    with atomic_write(path, "w") as f:
        f.write(text)


def write_json_atomic(obj: Any, path: str | os.PathLike) -> None:
    """Write JSON under a temporary name, then rename."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False, default=str)
        f.write("\n")


def save_npy(path: str | os.PathLike, arr: Any) -> None:
    """``np.save`` to any fsspec path, atomically (no pickles)."""
    import numpy as np

    with atomic_write(path) as f:
        np.save(f, arr, allow_pickle=False)


def load_npy(path: str | os.PathLike) -> Any:
    """``np.load`` of a whole ``.npy`` from any fsspec path (no pickles)."""
    import numpy as np

    return np.load(io.BytesIO(read_bytes(path)), allow_pickle=False)


def _discard(fs: Any, path: str) -> None:
    """Remove a temporary file after a failed write (a full disk must not leave debris behind)."""
    try:
        if fs.exists(path):
            fs.rm(path)
    except OSError:
        pass


def sweep_temporary(fs: Any, folder: str) -> int:
    """Remove temporary files an interrupted run left in ``folder`` and its subfolders; return how many."""
    n = 0
    if not fs.exists(folder):
        return 0
    for path in fs.find(folder):
        if os.path.basename(path).startswith(TMP_PREFIX):
            _discard(fs, path)
            n += 1
    return n


def path_exists(path: str | os.PathLike) -> bool:
    """``os.path.exists`` for any fsspec path."""
    fs, p = url_to_fs(path)
    return bool(fs.exists(p))


def is_file(path: str | os.PathLike) -> bool:
    """``os.path.isfile`` for any fsspec path."""
    fs, p = url_to_fs(path)
    return bool(fs.isfile(p))


def is_dir(path: str | os.PathLike) -> bool:
    """``os.path.isdir`` for any fsspec path (on an object store: a prefix with objects under it)."""
    fs, p = url_to_fs(path)
    return bool(fs.isdir(p))


def file_size(path: str | os.PathLike) -> int:
    fs, p = url_to_fs(path)
    return int(fs.size(p))


def glob(pattern: str | os.PathLike) -> list[str]:
    """Sorted matches of a glob, spelled as ``pattern`` is (local paths, or URLs with their protocol)."""
    fs, p = url_to_fs(pattern)
    return sorted(_full(fs, x, pattern) for x in fs.glob(p))


def list_dir(path: str | os.PathLike) -> list[str]:
    """Sorted full paths of the entries directly in a folder (none when it does not exist)."""
    fs, p = url_to_fs(path)
    if not fs.exists(p):
        return []
    return sorted(_full(fs, x, path) for x in fs.ls(p, detail=False) if x.rstrip("/") != p.rstrip("/"))


def remove_file(path: str | os.PathLike) -> None:
    """Remove one file; nothing there is fine."""
    fs, p = url_to_fs(path)
    if fs.exists(p):
        fs.rm(p)


def read_bytes(path: str | os.PathLike) -> bytes:
    fs, p = url_to_fs(path)
    return fs.cat_file(p)


def read_text(path: str | os.PathLike) -> str:
    return read_bytes(path).decode("utf-8")


def make_dirs(path: str) -> None:
    """``os.makedirs(exist_ok=True)`` for any fsspec path (object stores need none)."""
    fs, p = url_to_fs(path)
    fs.makedirs(p, exist_ok=True)


def remove_tree(path: str) -> None:
    """``shutil.rmtree`` for any fsspec path; nothing there is fine."""
    fs, p = url_to_fs(path)
    if fs.exists(p):
        fs.rm(p, recursive=True)


def file_identity(path: str) -> tuple[Any, ...]:
    """Path, size and version (an object's ETag, else the modification time): a cache key that changes when the
    file does."""
    fs, p = url_to_fs(path)
    info = fs.info(p)
    stamp = info.get("ETag") or info.get("mtime") or info.get("LastModified") or info.get("created")
    return (path, info.get("size"), str(stamp))


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(read_bytes(path))


CACHE_ENV = "CORPUS_FORGE_CACHE"


def cache_dir() -> str:
    """Where :func:`local_file` keeps copies of remote files: ``$CORPUS_FORGE_CACHE``, else the temp folder."""
    return os.environ.get(CACHE_ENV) or os.path.join(tempfile.gettempdir(), "corpus-forge-cache")


def _cached_name(path: str) -> str:
    """The cache file of this version of ``path`` (its :func:`file_identity`)."""
    digest = hashlib.sha1(repr(file_identity(path)).encode()).hexdigest()[:20]
    return os.path.join(cache_dir(), f"{digest}-{os.path.basename(path.rstrip('/'))}")


def local_file(path: str | os.PathLike) -> str:
    """A local path holding ``path``'s bytes: ``path`` itself when local; for a URL, a copy downloaded once
    per version of the file (keyed by :func:`file_identity`) into :func:`cache_dir`.

    For readers that need a file name or random access (memmaps, HF ``tokenizers``, fastText, torch). The
    cache may be deleted at any time between runs.
    """
    if not is_url(path):
        return str(path)
    path = str(path)
    fs, p = url_to_fs(path)
    local = _cached_name(path)
    if not os.path.exists(local):
        os.makedirs(cache_dir(), exist_ok=True)
        tmp = f"{local}.{TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            fs.get_file(p, tmp)
            os.replace(tmp, local)
        finally:
            with contextlib.suppress(OSError):
                os.remove(tmp)
    return local


def drop_local_copies(paths: list[str]) -> None:
    """Remove this machine's :func:`local_file` copies of ``paths`` (work files no longer needed)."""
    for path in paths:
        if is_url(path):
            with contextlib.suppress(OSError):
                os.remove(_cached_name(path))

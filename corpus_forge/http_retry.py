"""Retries with backoff for ``http(s)://`` reads (Common Crawl's https endpoint answers 503 / 429 "SlowDown"
under load, datatrove #302).

fsspec's HTTP filesystem has no retry of its own, so every ``aiohttp`` session it opens gets
:func:`retrying` as a client middleware (aiohttp's own hook, ``ClientSession(middlewares=...)``, set through
fsspec's config in every process that imports :mod:`corpus_forge.io`). It covers each GET and HEAD fsspec
sends: the size probe when a file is opened, whole-file reads, and each ranged read of a random-access file.
A throttled or failing request (:data:`RETRY_STATUSES`, a reset or dropped connection, a timeout, a ranged
body cut short) is sent again after exponential backoff with full jitter, or after the server's
``Retry-After``, up to :data:`HTTP_ATTEMPTS` attempts. After the last one it raises :class:`RetriesExhausted`,
naming the URL, what went wrong and how often it was tried.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

#: statuses that mean "try again later": rate limits (429, Common Crawl's SlowDown is a 503) and server errors
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: attempts per request, the first included (botocore's adaptive mode for ``s3://`` uses 10, io.S3_RETRIES)
HTTP_ATTEMPTS = 8
#: seconds; attempt k waits a random time in [0, min(HTTP_MAX_DELAY, HTTP_BASE_DELAY * 2**(k-1))]
#: (AWS's "full jitter"), so 7 waits of at most 1+2+4+8+16+32+60 s
HTTP_BASE_DELAY = 1.0
#: seconds: the longest wait, a server's Retry-After included
HTTP_MAX_DELAY = 60.0
_METHODS = frozenset({"GET", "HEAD"})  # reads only: a retried upload could be sent twice


class RetriesExhausted(RuntimeError):
    """An http(s) read still throttled or failing after :data:`HTTP_ATTEMPTS` attempts.

    Not an ``OSError`` or ``ValueError`` on purpose: the WARC reader counts those as damaged records and reads
    on, which would lose the rest of a file without saying so; this error fails the partition instead.
    """


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1, 2, ...): full jitter over an exponential cap."""
    return random.uniform(0.0, min(HTTP_MAX_DELAY, HTTP_BASE_DELAY * 2 ** (attempt - 1)))


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header's wait in seconds (delay-seconds or an HTTP date), at most
    :data:`HTTP_MAX_DELAY`; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), HTTP_MAX_DELAY)


async def retrying(request: Any, handler: Any) -> Any:
    """aiohttp client middleware: send a GET or HEAD again while it is throttled or fails (see the module).

    A ranged GET's body (one block of fsspec's read-ahead) is read here, so a connection cut mid-body is retried
    too; fsspec's own ``read()`` then returns the bytes already read."""
    import aiohttp

    if request.method not in _METHODS:
        return await handler(request)
    problem = ""
    for attempt in range(1, HTTP_ATTEMPTS + 1):
        wait = None
        try:
            response = await handler(request)
            if response.status not in RETRY_STATUSES:
                if response.status == 206 and "Range" in request.headers:
                    await response.read()
                return response
            problem = f"HTTP {response.status} {response.reason or ''}".rstrip()
            wait = retry_after(response.headers.get("Retry-After"))
            response.release()
        except (aiohttp.ClientConnectorDNSError, aiohttp.ClientSSLError):
            raise  # a wrong host name or certificate does not get better by waiting
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as err:
            problem = f"{type(err).__name__}: {err}".rstrip(": ")
        if attempt < HTTP_ATTEMPTS:
            await asyncio.sleep(backoff(attempt) if wait is None else wait)
    raise RetriesExhausted(f"{request.method} {request.url}: {problem} on each of {HTTP_ATTEMPTS} attempts "
                           "(retried with backoff; the server is throttling or down, try again later)")


def configure_http_retries() -> None:
    """Give fsspec's ``http(s)://`` sessions :func:`retrying` (a user's own fsspec ``client_kwargs``
    middlewares take precedence)."""
    import fsspec

    conf = fsspec.config.conf.setdefault("http", {})
    conf.setdefault("client_kwargs", {}).setdefault("middlewares", (retrying,))


def exhausted(err: BaseException) -> RetriesExhausted | None:
    """The :class:`RetriesExhausted` behind ``err`` (fsspec turns a failed size probe into FileNotFoundError)."""
    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, RetriesExhausted):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


@contextlib.contextmanager
def surfaced(as_type: type[Exception] = RetriesExhausted) -> Iterator[None]:
    """Raise an error that some library wrapped around a :class:`RetriesExhausted` as ``as_type`` with that
    error's own message, so the user reads "throttled after N attempts", not "file not found"."""
    try:
        yield
    except Exception as err:
        cause = exhausted(err)
        if cause is None or (err is cause and isinstance(err, as_type)):
            raise
        raise as_type(str(cause)) from err

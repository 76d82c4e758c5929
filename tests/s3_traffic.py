"""Requests that reach the moto S3 server, counted by kind, and throttling faults injected into them."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")


def kind(environ: dict[str, Any]) -> str:
    """LIST, GET, HEAD, PUT, DELETE (batch deletes too) or OTHER, from a request's method, path and query."""
    method = environ["REQUEST_METHOD"]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    path = environ.get("PATH_INFO", "/").strip("/")
    if method == "GET" and ("list-type" in query or "/" not in path):
        return "LIST"
    if method == "POST" and "delete" in query:
        return "DELETE"
    return method if method in ("GET", "HEAD", "PUT", "DELETE") else "OTHER"


class S3Traffic:
    """WSGI middleware around moto's app: ``counts`` per kind; ``throttle(n, when)`` answers the next ``n``
    requests that ``when`` accepts with 503 SlowDown, as Common Crawl's bucket does under load."""

    def __init__(self, app: Callable) -> None:
        self.app, self.counts, self._lock = app, Counter(), threading.Lock()
        self._faults, self._when, self.throttled = 0, None, 0

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()

    def throttle(self, n: int, when: Callable[[dict[str, Any]], bool] = lambda env: True) -> None:
        with self._lock:
            self._faults, self._when, self.throttled = n, when, 0

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        with self._lock:
            self.counts[kind(environ)] += 1
            fault = self._faults > 0 and self._when is not None and self._when(environ)
            if fault:
                self._faults -= 1
                self.throttled += 1
        if fault:
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("503 Slow Down", [("Content-Type", "application/xml"),
                                             ("Content-Length", str(len(SLOW_DOWN)))])
            return [SLOW_DOWN]
        return self.app(environ, start_response)

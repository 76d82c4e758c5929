"""A file served over HTTP on 127.0.0.1 (HEAD, GET, Range requests) with faults injected into chosen requests:
throttling (503 with or without Retry-After, 429), a connection dropped before the answer, and a ranged body
cut short, as Common Crawl's https endpoint does under load (datatrove #302)."""

from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from net_helpers import free_port

#: what a fault answers: (status, extra headers); "reset" and "cut" are handled by the server itself
FAULTS: dict[str, tuple[int, dict[str, str]]] = {
    "503": (503, {}),
    "503-retry-after": (503, {"Retry-After": "0"}),
    "429": (429, {}),
    "500": (500, {}),
}


class FaultyServer:
    """Serves ``body`` at ``/<name>``. ``fault(n, method, ranged)`` names the fault for the n-th request (0-based,
    counted over all requests) or returns None to answer it properly. ``counts`` by method; ``faults`` injected."""

    def __init__(self, body: bytes, name: str, fault: Callable[[int, str, bool], str | None]) -> None:
        self.body, self.name, self.fault = body, name, fault
        self.counts: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.url = ""

    def decide(self, method: str, ranged: bool) -> str | None:
        with self._lock:
            n = sum(self.counts.values())
            self.counts[method] += 1
            kind = self.fault(n, method, ranged)
            if kind:
                self.faults[kind] += 1
            return kind


def _handler(server: FaultyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def _answer(self, send_body: bool) -> None:
            if self.path != f"/{server.name}":
                self.send_error(404)
                return
            rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            kind = server.decide(self.command, rng is not None)
            if kind == "reset":  # the connection drops before any answer
                self.close_connection = True
                return
            if kind in FAULTS:
                status, headers = FAULTS[kind]
                self.send_response(status)
                for k, v in {**headers, "Content-Length": "0"}.items():
                    self.send_header(k, v)
                self.end_headers()
                return
            body, status = server.body, 200
            if rng:
                start = int(rng[1])
                end = min(int(rng[2]) + 1 if rng[2] else len(body), len(body))
                body, status = body[start:end], 206
            self.send_response(status)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/warc")
            self.send_header("Content-Length", str(len(body)))
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{len(server.body)}")
            self.end_headers()
            if send_body:
                self.wfile.write(body[: len(body) // 2] if kind == "cut" else body)
            if kind == "cut":  # half the promised bytes, then the connection drops
                self.close_connection = True

    return Handler


@contextlib.contextmanager
def serve(body: bytes, name: str, fault: Callable[[int, str, bool], str | None]) -> Iterator[FaultyServer]:
    """A :class:`FaultyServer` on 127.0.0.1 for the block; ``.url`` is the file's URL."""
    state = FaultyServer(body, name, fault)
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/{name}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)

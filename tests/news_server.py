"""A local HTTP server for the news poller tests: real feed bodies, conditional GET, and
routes broken on purpose (hangs, redirect loops, oversized bodies, bad statuses)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Route:
    body: bytes = b""
    ctype: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    location: str | None = None
    retry_after: str | None = None
    send_length: bool = True
    hang: threading.Event | None = None  # hold the answer until this is set (or 60 s)
    entered: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    status: int


class NewsServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._serve(self)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # many pollers connect at once

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, **kw: object) -> str:
        self.routes[path] = Route(**kw)  # type: ignore[arg-type]
        return self.base + path

    def hits_of(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if urlsplit(h.path).path == path]

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = urlsplit(h.path).path
        route = self.routes.get(path)
        status = 404 if route is None else route.status
        if route is not None:
            route.entered.set()
            if route.hang is not None:
                route.hang.wait(60)
            cond_etag = route.etag and h.headers.get("If-None-Match") == route.etag
            cond_mod = route.last_modified and (
                h.headers.get("If-Modified-Since") == route.last_modified
            )
            if status == 200 and (cond_etag or cond_mod):
                status = 304
        with self.lock:
            self.hits.append(Hit(h.path, dict(h.headers), status))
        try:
            self._answer(h, route, status)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout, size limit): expected in these tests
        if route is not None:
            route.answered.set()

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, route: Route | None, status: int) -> None:
        h.send_response(status)
        if route is None or status == 304:
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        for name, value in (
            ("Content-Type", route.ctype),
            ("ETag", route.etag),
            ("Last-Modified", route.last_modified),
            ("Location", route.location),
            ("Retry-After", route.retry_after),
        ):
            if value:
                h.send_header(name, value)
        if route.send_length:
            h.send_header("Content-Length", str(len(route.body)))
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        for i in range(0, len(route.body), 64 * 1024):
            h.wfile.write(route.body[i : i + 64 * 1024])

    def release_all(self) -> None:
        for r in self.routes.values():
            if r.hang is not None:
                r.hang.set()


@contextmanager
def news_server() -> Iterator[NewsServer]:
    srv = NewsServer()
    t = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.release_all()
        srv.httpd.shutdown()
        srv.httpd.server_close()

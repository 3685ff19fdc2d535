"""Web hardening, wired into the app by ``install(app, settings)`` (called by ``create_app``).

* **Security headers** on every response (errors and 429s included): a Content-Security-Policy
  the built dashboard runs under (scripts only from the page's origin, no inline script; the
  WebSocket only to the page's own host), ``X-Content-Type-Options: nosniff``, ``X-Frame-Options:
  DENY``, ``Referrer-Policy: no-referrer``, ``Cross-Origin-Opener-Policy`` and a
  ``Permissions-Policy`` that turns off what the dashboard never uses.
* **CORS** is off (same origin only) unless ``cors_origins`` lists origins; they may then read
  (GET/HEAD, no credentials, no custom headers): writes are never allowed cross-origin.
* **Rate limits**: a token bucket per client IP (``api_rate_per_s`` refill, ``api_rate_burst``
  size); one token per request and per WebSocket connect; an empty bucket answers 429 with
  ``Retry-After``. Probes, metrics and the dashboard's static files are exempt. The client IP is
  the ASGI ``client``: behind a reverse proxy, let uvicorn take it from ``X-Forwarded-For`` of
  trusted proxies only (``--forwarded-allow-ips``), never from a header any client can set.
* **HEAD** works wherever GET does (FastAPI routes answer GET only): the request is served as a
  GET and the body dropped, so headers (``Content-Length`` included) are those of the GET.

Why a small pure-ASGI middleware rather than slowapi: slowapi limits endpoints through a
decorator that needs a ``request`` parameter on every endpoint, does not support WebSocket
endpoints (its own documented limitation), and counts fixed or moving windows (through the
``limits`` package) rather than refilling a bucket; it would add two dependencies for what is
~40 lines here, tested in ``tests/test_security.py``. A pure ASGI middleware (not Starlette's
``BaseHTTPMiddleware``) also leaves streamed exports and WebSockets untouched.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from fastapi import FastAPI

    from btcpulse.config import Settings

EXEMPT_PATHS = frozenset({"/", "/livez", "/readyz", "/metrics", "/favicon.ico"})
EXEMPT_PREFIXES = ("/assets/",)
DOCS_PREFIXES = ("/docs", "/redoc")

# 'unsafe-inline' styles only: the charting library (lightweight-charts) inserts a <style>
# element for its attribution logo; styles cannot run script, and script-src stays 'self'.
_DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src {connect}; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's /docs (Swagger UI) and /redoc pages load their bundle from a CDN and start it with an
# inline script: a looser policy for those pages only (they show the API's own schema).
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
)
# A Host header safe to put in a header value: a DNS name or IPv4 address, or a bracketed IPv6
# address, with an optional port. Anything else (an attacker's "x; script-src *") is left out.
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d+)?")


def content_security_policy(path: str, host: str | None) -> str:
    """The CSP of a response to ``path`` requested with this ``Host`` header."""
    if path.startswith(DOCS_PREFIXES):
        return _DOCS_CSP
    connect = "'self'"
    if host and _HOST.fullmatch(host):
        # 'self' covers ws:/wss: of the same host in CSP Level 3 browsers only: say it.
        connect += f" ws://{host} wss://{host}"
    return _DASHBOARD_CSP.format(connect=connect)


def check_origins(origins: list[str]) -> list[str]:
    """CORS origins as browsers send them (``https://example.org[:port]``, no path), or ``*``."""
    for origin in origins:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise ValueError(
                f"CORS origin {origin!r} must be scheme://host[:port] (no path, no trailing "
                "slash) or '*'"
            )
    return origins


def is_exempt(path: str) -> bool:
    """Probes, metrics and the dashboard's static files are never rate limited."""
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


class TokenBuckets:
    """A token bucket per key: ``rate`` tokens a second, at most ``burst``; one per request.

    Buckets idle long enough to be full again are forgotten when the table grows past
    ``max_keys`` (a forgotten bucket is full, as a new one is): memory stays bounded whatever
    the number of clients."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """0.0 when a token was taken; otherwise the seconds until one will be there."""
        now = self.clock()
        found = self._buckets.get(key)
        if found is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            tokens = self.burst
        else:
            tokens = min(self.burst, found[0] + max(0.0, now - found[1]) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        refill = self.burst / self.rate
        kept = {k: v for k, v in self._buckets.items() if now - v[1] < refill}
        if len(kept) >= self.max_keys:  # every one busy: keep the most recently seen half
            newest = sorted(kept.items(), key=lambda kv: kv[1][1])[len(kept) // 2 :]
            kept = dict(newest)
        self._buckets = kept


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class Hardening:
    """Pure ASGI middleware: security headers, per-client rate limits, HEAD as GET."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate_per_s: float = 0.0,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate_per_s, burst, clock=clock) if rate_per_s > 0 else None
        self.refused = 0

    def _wait(self, scope: Scope) -> float:
        if self.buckets is None or is_exempt(scope.get("path", "")):
            return 0.0
        client = scope.get("client")
        return self.buckets.take(str(client[0]) if client else "-")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            wait = self._wait(scope)
            if wait:
                await self._refuse_websocket(scope, send, wait)
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        extra = [
            *_HEADERS,
            (
                b"content-security-policy",
                content_security_policy(path, _header(scope, b"host")).encode("latin-1"),
            ),
        ]
        wait = self._wait(scope)
        if wait:
            self.refused += 1
            await _send_json(send, 429, _too_many(wait), [*extra, *_retry_after(wait)])
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                present = {bytes(k).lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # The outer error middleware would answer a bare 500: answer it here, with the
            # headers and no detail, and let the error go on to be logged.
            if not started:
                await _send_json(send, 500, {"detail": "Internal Server Error"}, extra)
            raise

    async def _refuse_websocket(self, scope: Scope, send: Send, wait: float) -> None:
        self.refused += 1
        if "websocket.http.response" in scope.get("extensions", {}):
            body = json.dumps(_too_many(wait)).encode()
            headers = [(b"content-type", b"application/json"), *_retry_after(wait)]
            await send({"type": "websocket.http.response.start", "status": 429, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
        else:  # a server without the denial-response extension answers 403
            await send({"type": "websocket.close", "code": 1013, "reason": "rate limited"})


def _too_many(wait: float) -> dict[str, str]:
    return {"detail": f"too many requests: retry after {math.ceil(wait)} s"}


def _retry_after(wait: float) -> list[tuple[bytes, bytes]]:
    return [(b"retry-after", str(max(1, math.ceil(wait))).encode())]


async def _send_json(
    send: Send, status: int, body: dict[str, str], headers: list[tuple[bytes, bytes]]
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data, "more_body": False})


def install(app: FastAPI, settings: Settings) -> None:
    """Add the hardening to ``app``: CORS (when configured) outermost, then headers, limits
    and HEAD."""
    app.add_middleware(Hardening, rate_per_s=settings.api_rate_per_s, burst=settings.api_rate_burst)
    origins = check_origins(list(settings.cors_origins))
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD"],
            allow_headers=[],
            allow_credentials=False,
            max_age=600,
        )

"""The one fetch layer of the news pollers: conditional GET, timeouts, a body size limit,
bounded redirects and a clear User-Agent. Every failure is a :class:`FetchError` whose
``reason`` says what went wrong in words (and never contains the request's token)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from btcpulse.config import Settings
from btcpulse.timeutil import utcnow

ACCEPT = {
    "rss": "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
    "*/*;q=0.5",
    "json": "application/json, */*;q=0.5",
}


class FetchError(Exception):
    """A fetch that produced no usable response; ``retry_after`` when the server asked."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fetched:
    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def make_client(settings: Settings) -> httpx.AsyncClient:
    """One client shared by every poller of a process (connection reuse, one pool)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout_s),
        follow_redirects=True,
        max_redirects=settings.news_max_redirects,
        headers={"User-Agent": settings.user_agent},
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


async def _read(resp: httpx.Response, max_bytes: int) -> bytes:
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"body too large: Content-Length {declared} > limit {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"body too large: more than {max_bytes} bytes (download aborted)")
        chunks.append(chunk)
    return b"".join(chunks)


async def _get(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    params: dict[str, str] | None,
    max_bytes: int,
) -> Fetched:
    # ``params=`` would replace the URL's own query string: merge instead.
    target = httpx.URL(url).copy_merge_params(params) if params else httpx.URL(url)
    async with client.stream("GET", target, headers=headers) as resp:
        if resp.status_code == 304:
            return Fetched(304, etag=resp.headers.get("etag"))
        if resp.status_code >= 400 or resp.status_code < 200:
            raise FetchError(
                f"HTTP {resp.status_code} {resp.reason_phrase}".strip(),
                retry_after=_retry_after(resp.headers.get("retry-after")),
            )
        if 300 <= resp.status_code < 400:
            raise FetchError(f"HTTP {resp.status_code} redirect without a usable Location")
        body = await _read(resp, max_bytes)
        return Fetched(
            resp.status_code,
            body,
            etag=resp.headers.get("etag"),
            last_modified=resp.headers.get("last-modified"),
            content_type=resp.headers.get("content-type", ""),
        )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    modified: str | None = None,
    accept: str = ACCEPT["rss"],
    params: dict[str, str] | None = None,
    max_bytes: int = 5 * 1024 * 1024,
    deadline_s: float = 30.0,
) -> Fetched:
    """GET ``url`` once. 304 is a result (``not_modified``); anything unusable raises
    :class:`FetchError`. ``deadline_s`` bounds the whole exchange (a server that trickles
    bytes never holds a poller for longer)."""
    headers = {"Accept": accept, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    try:
        async with asyncio.timeout(deadline_s):
            return await _get(client, url, headers, params, max_bytes)
    except TimeoutError as exc:
        raise FetchError(f"timeout: no complete answer within {deadline_s:g} s") from exc
    except httpx.TimeoutException as exc:
        kind = type(exc).__name__.removesuffix("Timeout").lower() or "request"
        raise FetchError(f"timeout ({kind}) after {client.timeout.read or 0:g} s") from exc
    except httpx.TooManyRedirects as exc:
        raise FetchError(
            f"too many redirects (more than {client.max_redirects}): a redirect loop?"
        ) from exc
    except httpx.DecodingError as exc:
        raise FetchError(f"undecodable body (Content-Encoding): {exc}") from exc
    except httpx.UnsupportedProtocol as exc:
        raise FetchError(f"unsupported protocol: {exc}") from exc
    except httpx.ConnectError as exc:
        raise FetchError(f"connection failed: {exc or type(exc).__name__}") from exc
    except httpx.RemoteProtocolError as exc:
        raise FetchError(f"broken HTTP response: {exc or type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from exc

"""A polite REST client for candle pages: spacing, Retry-After, timeouts, retries.

- Requests are spaced by at least ``min_interval_s`` (public limits: Coinbase Exchange about
  10 requests/s per IP, Binance 6,000 request weight per minute with klines weighing 2).
- ``429 Too Many Requests`` and ``418`` (Binance's IP ban after ignoring 429s) are honoured:
  the client waits ``Retry-After`` (seconds or an HTTP date; backoff when absent) and tries
  again; a wait longer than ``max_retry_after_s`` ends the backfill with a clear error rather
  than hanging.
- Timeouts, connection errors and 5xx answers are retried with jittered exponential backoff,
  ``retries`` times; other 4xx answers are errors at once (the request itself is wrong).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

from btcpulse.collectors.backoff import Backoff
from btcpulse.collectors.prices.wire import loads
from btcpulse.timeutil import utcnow

log = structlog.get_logger("history")


class HistoryError(Exception):
    """The venue could not be read (unreachable, refusing, or answering junk)."""


@dataclass(frozen=True)
class Politeness:
    min_interval_s: float = 0.25
    timeout_s: float = 10.0
    retries: int = 5
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    max_retry_after_s: float = 120.0


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent/unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - utcnow()).total_seconds())


class CandleClient:
    """GETs JSON from one venue's REST base URL (see module doc). Use as an async context."""

    def __init__(
        self,
        base_url: str,
        *,
        user_agent: str = "btcpulse",
        politeness: Politeness | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.p = politeness or Politeness()
        self.sleep = sleep
        self.stats = ClientStats()
        self._last = 0.0
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=self.p.timeout_s,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
        )

    async def __aenter__(self) -> CandleClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._http.aclose()

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.waited_s += seconds
            await self.sleep(seconds)

    async def _space(self) -> None:
        gap = self._last + self.p.min_interval_s - time.monotonic()
        await self._wait(gap)
        self._last = time.monotonic()

    async def get(self, path: str, params: dict[str, str]) -> Any:
        backoff = Backoff(base_s=self.p.backoff_base_s, cap_s=self.p.backoff_cap_s)
        where = f"{self.base_url}{path}"
        attempt = 0
        while True:
            await self._space()
            self.stats.requests += 1
            wait: float | None = None
            try:
                r = await self._http.get(path, params=params)
            except httpx.ConnectError as exc:
                problem = f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}"
            except httpx.TimeoutException as exc:
                problem = f"{where}: no answer within {self.p.timeout_s:g}s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                problem = f"{where}: {type(exc).__name__}: {exc}"
            else:
                if r.status_code in (429, 418):
                    self.stats.rate_limited += 1
                    wait = retry_after(r.headers.get("Retry-After"))
                    problem = f"{where}: HTTP {r.status_code} (rate limited)"
                    if wait is not None and wait > self.p.max_retry_after_s:
                        raise HistoryError(f"{problem}: the venue asks to wait {wait:.0f}s")
                elif r.status_code >= 500:
                    problem = f"{where}: HTTP {r.status_code}: {r.text[:200]}"
                elif r.status_code >= 400:
                    raise HistoryError(f"{where}: HTTP {r.status_code}: {r.text[:300]}")
                else:
                    try:
                        return loads(r.text)
                    except ValueError as exc:
                        raise HistoryError(f"{where}: not JSON: {exc}") from exc
            attempt += 1
            if attempt > self.p.retries:
                raise HistoryError(f"{problem} (gave up after {attempt} attempts)")
            delay = backoff.next_delay() if wait is None else wait
            self.stats.retries += 1
            log.warning("history.retry", problem=problem, attempt=attempt, wait_s=round(delay, 2))
            await self._wait(delay)
            self._last = time.monotonic()

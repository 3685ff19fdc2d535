"""Walk a time range page by page, producing each closed venue candle as a ``Bar``.

Two jobs by default: daily bars for years (few pages, so long ranges have data first), then
1-minute bars for the recent days, starting at a UTC midnight so that the first day's daily
candle is rolled up from a whole day. Only closed intervals are fetched: a job ends at the
start of the interval that is still open (that minute, or today).

Resumable: each (venue, symbol, interval) keeps a cursor ``{"from", "next"}`` in the store's
collector state, the range ``[from, next)`` being done. It is saved only after the producer
flushed a page, so an interrupted run resumes at the first page not on the bus, and a second
run fetches only what closed since (nothing twice). A run asking for an earlier start than
``from`` fetches that head first (resumable only once it completes). A crash between a flush
and the save re-sends one page, which the store absorbs (bars upsert by natural key).

Bars go on the prices topic with the key ``venue:symbol``, like trades and replayed bars, so
the engine rolls them up with everything else (1 m bars feed the 60 s level and up, daily bars
only the 1 d level).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError

from btcpulse.bus.base import Producer
from btcpulse.collectors.health import HealthReporter
from btcpulse.config import Settings
from btcpulse.events import Bar, DeadLetter, encode
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state, put_errors, put_state
from btcpulse.timeutil import to_epoch_us, utcnow

from .client import CandleClient, HistoryError, Politeness
from .formats import CandleFormat, make_format

log = structlog.get_logger("history")

DAY = 86400
MINUTE = 60


def cursor_key(venue: str, symbol: str, interval_s: int) -> str:
    return f"backfill:{venue}:{symbol}:{interval_s}"


def done_key(venue: str, symbol: str) -> str:
    return f"backfill:{venue}:{symbol}"


def backfill_completed(store: Store, venue: str, symbol: str | None = None) -> bool:
    """Whether a backfill of ``venue`` (and ``symbol``, default the venue's) has completed."""
    sym = symbol or make_format(venue).default_symbol
    with store.read() as conn:
        return get_state(conn, done_key(venue, sym)) is not None


@dataclass(frozen=True)
class Job:
    interval_s: int
    start_s: int
    end_s: int
    """Exclusive: the start of the interval still open."""

    @property
    def label(self) -> str:
        return "1d" if self.interval_s == DAY else f"{self.interval_s // 60}m"

    @property
    def total(self) -> int:
        return max(0, (self.end_s - self.start_s) // self.interval_s)


def plan(now: datetime, days: int, daily_years: int) -> list[Job]:
    """Daily bars for ``daily_years`` (365-day years) and 1-minute bars for ``days`` days."""
    now_s = to_epoch_us(now) // 1_000_000
    today = now_s - now_s % DAY
    jobs = []
    if daily_years > 0:
        jobs.append(Job(DAY, today - daily_years * 365 * DAY, today))
    if days > 0:
        first = now_s - days * DAY
        jobs.append(Job(MINUTE, first - first % DAY, now_s - now_s % MINUTE))
    return jobs


@dataclass
class Page:
    """Progress of one job after a flushed page (for progress bars)."""

    job: Job
    next_s: int
    bars: int
    pages: int


@dataclass
class JobResult:
    job: Job
    bars: int = 0
    pages: int = 0
    skipped: int = 0
    """Intervals already done by an earlier run."""


@dataclass
class Summary:
    venue: str
    symbol: str
    jobs: list[JobResult] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0
    rate_limited: int = 0

    @property
    def bars(self) -> int:
        return sum(j.bars for j in self.jobs)

    @property
    def pages(self) -> int:
        return sum(j.pages for j in self.jobs)

    def line(self) -> str:
        parts = ", ".join(f"{j.bars:,} {j.job.label} bars" for j in self.jobs) or "nothing asked"
        rate = self.bars / self.seconds if self.seconds > 0 else 0.0
        return (
            f"backfill {self.venue} {self.symbol}: {parts} in {self.pages} pages "
            f"({self.requests} requests, {self.rate_limited} rate-limited), "
            f"{self.seconds:.1f}s, {rate:,.0f} bars/s"
        )


class Backfill:
    """One venue's and symbol's candle history into the bus (see module doc)."""

    def __init__(
        self,
        settings: Settings,
        producer: Producer,
        store: Store,
        *,
        venue: str,
        base_url: str | None = None,
        symbol: str | None = None,
        page: int | None = None,
        politeness: Politeness | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_page: Callable[[Page], None] | None = None,
    ) -> None:
        self.fmt: CandleFormat = make_format(venue)
        self.s = settings
        self.producer = producer
        self.store = store
        self.venue = venue
        self.base_url = base_url or self.fmt.default_url
        self.symbol = symbol or self.fmt.default_symbol
        self.page = min(page or self.fmt.max_page, self.fmt.max_page)
        self.politeness = politeness or Politeness(
            min_interval_s=settings.backfill_min_interval_s,
            timeout_s=settings.http_timeout_s,
            retries=settings.backfill_retries,
        )
        self.clock = clock
        self.on_page = on_page
        self.health = HealthReporter(store, f"backfill:{venue}", "history")

    # ------------------------------------------------------------ cursors

    def _cursor(self, interval_s: int) -> dict[str, Any] | None:
        with self.store.read() as conn:
            return get_state(conn, cursor_key(self.venue, self.symbol, interval_s))

    def _save(self, interval_s: int, start: int, nxt: int) -> None:
        with self.store.begin() as conn:
            put_state(
                conn, cursor_key(self.venue, self.symbol, interval_s), {"from": start, "next": nxt}
            )

    def completed(self) -> bool:
        return backfill_completed(self.store, self.venue, self.symbol)

    # ------------------------------------------------------------ fetching

    def _produce(self, bars: list[Bar]) -> None:
        key = f"{self.venue}:{self.symbol}".encode()
        for b in bars:
            self.producer.produce(
                self.s.topic_prices,
                encode(b),
                key=key,
                timestamp_ms=to_epoch_us(b.open_time) // 1000,
            )
        left = self.producer.flush()
        if left:
            raise HistoryError(f"the bus did not accept {left} bars")

    async def _fetch(
        self,
        client: CandleClient,
        job: Job,
        lo: int,
        hi: int,
        res: JobResult,
        save: Callable[[int], None],
    ) -> None:
        """Fetch ``[lo, hi)`` page by page; ``save(next)`` after each flushed page."""
        iv = job.interval_s
        span = self.fmt.page_span(self.page) * iv
        s = lo
        while s < hi:
            e = min(s + span, hi)
            path, params = self.fmt.request(self.symbol, iv, s, e, self.page)
            body = await client.get(path, params)
            try:
                got = self.fmt.parse(body, self.symbol, iv)
            except (ValueError, TypeError, IndexError, ValidationError) as exc:
                raise HistoryError(
                    f"{self.base_url}{path}: unusable candles: {type(exc).__name__}: {exc}"[:1000]
                ) from exc
            fresh = [b for b in got if s <= to_epoch_us(b.open_time) // 1_000_000 < e]
            self._produce(fresh)
            nxt = e
            if fresh:  # a short page (the server's own cap): go on after its last bar
                nxt = min(e, to_epoch_us(fresh[-1].open_time) // 1_000_000 + iv)
            save(nxt)
            res.bars += len(fresh)
            res.pages += 1
            if self.on_page is not None:
                self.on_page(Page(job, nxt, res.bars, res.pages))
            s = nxt

    async def _job(self, client: CandleClient, res: JobResult) -> None:
        job = res.job
        self.fmt.check(job.interval_s)
        cur = self._cursor(job.interval_s)
        done_from = int(cur["from"]) if cur else job.start_s
        done_next = int(cur["next"]) if cur else job.start_s
        if done_next < job.start_s:  # done long ago, before this window: start afresh
            done_from = done_next = job.start_s
        already = min(done_next, job.end_s) - max(done_from, job.start_s)
        res.skipped = max(0, already) // job.interval_s
        if job.start_s < done_from:  # an earlier start than before: the head first
            await self._fetch(client, job, job.start_s, done_from, res, lambda _n: None)
            done_from = job.start_s
            self._save(job.interval_s, done_from, done_next)
        start = max(job.start_s, done_next)
        if self.on_page is not None:
            self.on_page(Page(job, start, 0, 0))
        await self._fetch(
            client, job, start, job.end_s, res, lambda n: self._save(job.interval_s, done_from, n)
        )

    async def run(self, days: int, daily_years: int) -> Summary:
        """Fetch and produce; on failure record it (health, errors) and raise ``HistoryError``."""
        t0 = time.perf_counter()
        summary = Summary(self.venue, self.symbol)
        jobs = plan(self.clock(), days, daily_years)
        log.info("history.start", venue=self.venue, symbol=self.symbol, url=self.base_url)
        try:
            async with CandleClient(
                self.base_url, user_agent=self.s.user_agent, politeness=self.politeness
            ) as client:
                try:
                    for job in jobs:
                        summary.jobs.append(res := JobResult(job))
                        await self._job(client, res)
                finally:
                    summary.requests = client.stats.requests
                    summary.rate_limited = client.stats.rate_limited
        except HistoryError as exc:
            summary.seconds = time.perf_counter() - t0
            self._failed(str(exc), summary)
            raise
        summary.seconds = time.perf_counter() - t0
        with self.store.begin() as conn:
            put_state(
                conn,
                done_key(self.venue, self.symbol),
                {"completed": utcnow().isoformat(), "days": days, "daily_years": daily_years},
            )
        self.health.up(items=summary.bars, detail=summary.line(), metrics=self._metrics(summary))
        self.health.status("done", detail=summary.line())  # a one-shot: never "stale"
        log.info("history.done", summary=summary.line())
        return summary

    def _metrics(self, summary: Summary) -> dict[str, Any]:
        return {
            "bars": summary.bars,
            "pages": summary.pages,
            "requests": summary.requests,
            "rate_limited": summary.rate_limited,
        }

    def _failed(self, reason: str, summary: Summary) -> None:
        log.warning("history.failed", venue=self.venue, reason=reason)
        letter = DeadLetter(
            stage="backfill",
            source=f"backfill:{self.venue}",
            reason=reason[:2000],
            payload=json.dumps(
                {"url": self.base_url, "symbol": self.symbol, "bars_before_failure": summary.bars}
            ),
        )
        with self.store.begin() as conn:
            put_errors(conn, [letter])
        self.health.down(
            reason,
            detail=f"backfill stopped after {summary.bars} bars; the next run resumes",
            metrics=self._metrics(summary),
        )

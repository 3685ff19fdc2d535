"""News pollers: one asyncio task per source, each on its own interval.

A poll = conditional GET (:mod:`.http`) → parse by kind (:mod:`.parsers`, in a worker thread)
→ new items to the news topic, dead letters to the dead-letter topic → ETag, Last-Modified and
the ids already produced saved in ``collector_state`` (so a restart produces nothing again)
→ health (last success, last error and its reason, items/hour, next poll). A failed fetch is
written to the ``errors`` table (stage ``fetch``) with the source and the reason; dead letters
are written there too, at once, so that ``collect news --once`` shows them without the engine
(the engine's copy from the topic is the same row: same error id). Failures back off with
jitter; a slow or broken source never holds up another.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

import httpx
import structlog

from btcpulse.bus.base import Producer
from btcpulse.collectors.backoff import Backoff
from btcpulse.collectors.health import HealthReporter
from btcpulse.collectors.news.http import ACCEPT, FetchError, fetch, make_client
from btcpulse.collectors.news.parsers import parse
from btcpulse.collectors.news.registry import Source
from btcpulse.config import Settings
from btcpulse.events import DeadLetter, NewsItem, encode
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state, put_errors, put_state
from btcpulse.timeutil import to_epoch_us, utcnow

log = structlog.get_logger("news")

SEEN_KEEP = 2000
BACKOFF_CAP_S = 900.0


@dataclass
class PollOutcome:
    """What one poll of one source did."""

    source: str
    parsed: int = 0
    new: int = 0
    bad: int = 0
    not_modified: bool = False
    error: str | None = None
    warning: str | None = None
    retry_after: float | None = None
    took_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        if self.error:
            return f"FAILED: {self.error}"
        if self.not_modified:
            return "not modified (304)"
        text = f"{self.parsed} parsed, {self.new} new, {self.bad} dead letters"
        return text + (f" ({self.warning})" if self.warning else "")


class ItemRate:
    """Items produced in the trailing hour (wall-clock seconds, kept across restarts)."""

    def __init__(self, events: list[list[float]] | None = None) -> None:
        self.events: deque[tuple[float, int]] = deque((t, int(n)) for t, n in events or [])

    def add(self, n: int) -> None:
        if n:
            self.events.append((time.time(), n))

    def per_hour(self) -> int:
        cut = time.time() - 3600.0
        while self.events and self.events[0][0] < cut:
            self.events.popleft()
        return sum(n for _, n in self.events)

    def dump(self) -> list[list[float]]:
        self.per_hour()  # drop what is older than an hour
        return [[t, n] for t, n in self.events]


class SourcePoller:
    def __init__(
        self, source: Source, settings: Settings, producer: Producer, store: Store
    ) -> None:
        self.source = source
        self.name = source.name
        self.s = settings
        self.producer = producer
        self.store = store
        self.health = HealthReporter(store, source.name, "news")
        self.backoff = Backoff(base_s=min(30.0, source.interval_s), cap_s=BACKOFF_CAP_S)
        self.state_key = f"news:{source.name}"
        with store.read() as conn:  # rss:<name> is where the RSS-only poller kept it
            state = get_state(conn, self.state_key) or get_state(conn, f"rss:{source.name}")
        state = state or {}
        self.etag: str | None = state.get("etag")
        self.modified: str | None = state.get("modified")
        self.seen: deque[str] = deque(state.get("seen", []), maxlen=SEEN_KEEP)
        self.rate = ItemRate(state.get("recent"))

    def _redact(self, text: str) -> str:
        token = self.source.token()
        return text.replace(token, "***") if token else text

    def _fetch_failed(self, reason: str) -> None:
        when = utcnow()
        letter = DeadLetter(
            stage="fetch",
            source=self.name,
            reason=reason[:2000],
            payload=f"GET {self.source.url} at {when.isoformat()}",
            time=when,
        )
        with self.store.begin() as conn:
            put_errors(conn, [letter])

    async def poll_once(self, client: httpx.AsyncClient) -> PollOutcome:
        """Fetch, parse and produce once. Never raises (but can be cancelled)."""
        t0 = time.perf_counter()
        out = PollOutcome(self.name)
        token = self.source.token()
        try:
            got = await fetch(
                client,
                self.source.url,
                etag=self.etag,
                modified=self.modified,
                accept=ACCEPT["rss"] if self.source.kind == "rss" else ACCEPT["json"],
                params={self.source.token_param: token} if token else None,
                max_bytes=self.s.news_max_body_bytes,
                deadline_s=self.s.http_timeout_s * 3,
            )
        except FetchError as exc:
            out.error, out.retry_after = self._redact(exc.reason), exc.retry_after
            self._fetch_failed(out.error)
            out.took_s = time.perf_counter() - t0
            return out
        if got.not_modified:
            out.not_modified = True
            out.took_s = time.perf_counter() - t0
            return out
        items, letters = await asyncio.to_thread(
            parse,
            self.source.kind,
            got.body,
            source=self.name,
            fetched_at=utcnow(),
            content_type=got.content_type,
        )
        if self.source.lang is not None:  # the registry's declared language
            items = [i.model_copy(update={"lang": self.source.lang}) for i in items]
        # No await below: produced items and the saved state cannot be split by a cancel.
        self._produce(items, letters, got.etag, got.last_modified, out)
        out.took_s = time.perf_counter() - t0
        return out

    def _produce(
        self,
        items: list[NewsItem],
        letters: list[DeadLetter],
        etag: str | None,
        modified: str | None,
        out: PollOutcome,
    ) -> None:
        seen = set(self.seen)
        new = []
        for item in items:
            if item.id not in seen:
                seen.add(item.id)
                new.append(item)
        fresh_letters = [dl for dl in letters if dl.error_id not in seen]
        for item in new:
            self.producer.produce(
                self.s.topic_news,
                encode(item),
                key=item.id.encode(),
                timestamp_ms=to_epoch_us(item.published_at) // 1000,
            )
        for dl in fresh_letters:
            self.producer.produce(self.s.topic_deadletters, encode(dl), key=dl.error_id.encode())
        if (left := self.producer.flush()) != 0:  # not on the bus: nothing saved, polled again
            raise RuntimeError(f"the bus did not take {left} message(s)")
        self.seen.extend(i.id for i in new)
        self.seen.extend(dl.error_id for dl in fresh_letters)
        failed = bool(letters) and not items
        if not failed:  # a broken document must be fetched again, not answered with a 304
            self.etag, self.modified = etag, modified
        self.rate.add(len(new))
        state = {
            "etag": self.etag,
            "modified": self.modified,
            "seen": list(self.seen),
            "recent": self.rate.dump(),
        }
        with self.store.begin() as conn:
            put_errors(conn, fresh_letters)
            put_state(conn, self.state_key, state)
        out.parsed, out.new, out.bad = len(items), len(new), len(letters)
        if failed:
            out.error = letters[0].reason
        elif letters:
            out.warning = letters[0].reason if len(letters) == 1 else f"{len(letters)} problems"

    def next_delay(self, outcome: PollOutcome) -> float:
        """Seconds until the next poll: the interval ±10 %, or jittered exponential backoff
        (at least what a 429/503 ``Retry-After`` asked for, within the backoff cap)."""
        if outcome.ok:
            self.backoff.reset()
            return self.source.interval_s * random.uniform(0.9, 1.1)
        delay = self.backoff.next_delay()
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, BACKOFF_CAP_S))
        return delay

    def report(self, outcome: PollOutcome, delay: float | None) -> None:
        """Health: status, reason, items, next poll, items/hour."""
        next_poll = utcnow() + timedelta(seconds=delay) if delay is not None else None
        metrics = {
            "items_per_hour": self.rate.per_hour(),
            "interval_s": self.source.interval_s,
            "last_poll_s": round(outcome.took_s, 3),
            "last_parsed": outcome.parsed,
            "last_new": outcome.new,
        }
        when = f"; next poll in {delay:.0f}s" if delay is not None else ""
        if outcome.error is not None:
            self.health.down(
                outcome.error,
                detail=f"retry in {delay:.0f}s" if delay is not None else "poll failed",
                next_poll=next_poll,
                metrics=metrics,
            )
        else:
            self.health.up(
                items=outcome.new,
                detail=f"{self.source.kind}: {outcome.summary()}{when}",
                next_poll=next_poll,
                metrics=metrics,
            )

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                outcome = await self.poll_once(client)
            except Exception as exc:  # a bug or a store outage: record, back off, go on
                outcome = PollOutcome(self.name, error=f"{type(exc).__name__}: {exc}"[:500])
                log.exception("news.poll_crashed", source=self.name)
            delay = self.next_delay(outcome)
            if outcome.error:
                log.warning(
                    "news.poll_failed", source=self.name, reason=outcome.error, retry_s=delay
                )
            self.report(outcome, delay)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)


async def run_sources(
    sources: list[Source], settings: Settings, producer: Producer, store: Store, stop: asyncio.Event
) -> None:
    """Poll every active source on its own interval until ``stop`` is set; a poll still
    waiting on a slow server is cancelled then (it saved nothing half-way)."""
    pollers = [SourcePoller(s, settings, producer, store) for s in sources if s.active]
    for s in sources:
        if not s.active:
            log.info("news.source_off", source=s.name, reason=s.off_reason)
    async with make_client(settings) as client:
        tasks = [asyncio.create_task(p.run(client, stop), name=p.name) for p in pollers]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def poll_sources_once(
    sources: list[Source], settings: Settings, producer: Producer, store: Store
) -> list[PollOutcome]:
    """Poll each source once, all at the same time; health is recorded (no next poll)."""
    pollers = [SourcePoller(s, settings, producer, store) for s in sources]
    async with make_client(settings) as client:
        outcomes = await asyncio.gather(*(p.poll_once(client) for p in pollers))
    for p, o in zip(pollers, outcomes, strict=True):
        p.report(o, None)
    return list(outcomes)

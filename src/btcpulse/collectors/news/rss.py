"""Live RSS/Atom pollers: conditional GET, timeouts, jittered backoff, health, no repeats."""

from __future__ import annotations

import asyncio
import random
from collections import deque

import httpx
import structlog

from btcpulse.bus.base import Producer
from btcpulse.collectors.backoff import Backoff
from btcpulse.collectors.health import HealthReporter
from btcpulse.collectors.news.feeds import parse_feed
from btcpulse.config import Settings
from btcpulse.events import encode
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state, put_state
from btcpulse.timeutil import to_epoch_us, utcnow

log = structlog.get_logger("rss")

MAX_BODY = 5 * 1024 * 1024
SEEN_KEEP = 2000


class FeedPoller:
    def __init__(
        self, name: str, url: str, settings: Settings, producer: Producer, store: Store
    ) -> None:
        self.name = name
        self.url = url
        self.s = settings
        self.producer = producer
        self.store = store
        self.health = HealthReporter(store, name, "news")
        self.backoff = Backoff(base_s=min(30.0, settings.news_poll_interval_s), cap_s=900.0)
        self.state_key = f"rss:{name}"
        with store.read() as conn:
            state = get_state(conn, self.state_key) or {}
        self.etag: str | None = state.get("etag")
        self.modified: str | None = state.get("modified")
        self.seen: deque[str] = deque(state.get("seen", []), maxlen=SEEN_KEEP)

    async def poll_once(self, client: httpx.AsyncClient) -> int:
        """Fetch the feed once; produce new items; return how many. Raises on failure."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.modified:
            headers["If-Modified-Since"] = self.modified
        async with client.stream("GET", self.url, headers=headers) as resp:
            if resp.status_code == 304:
                return 0
            resp.raise_for_status()
            chunks = []
            size = 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY:
                    raise ValueError(f"feed body larger than {MAX_BODY} bytes")
                chunks.append(chunk)
            body = b"".join(chunks)
            etag, modified = resp.headers.get("etag"), resp.headers.get("last-modified")
        items, letters = parse_feed(body, source=self.name, fetched_at=utcnow())
        seen = set(self.seen)
        new = [i for i in items if i.id not in seen]
        for item in new:
            self.producer.produce(
                self.s.topic_news,
                encode(item),
                key=item.id.encode(),
                timestamp_ms=to_epoch_us(item.published_at) // 1000,
            )
        for dl in letters:
            self.producer.produce(self.s.topic_deadletters, encode(dl), key=dl.error_id.encode())
        self.producer.flush()
        self.seen.extend(i.id for i in new)
        self.etag, self.modified = etag, modified
        with self.store.begin() as conn:
            put_state(
                conn,
                self.state_key,
                {"etag": etag, "modified": modified, "seen": list(self.seen)},
            )
        if letters and not items:
            raise ValueError(letters[0].reason)
        return len(new)

    async def run(self, stop: asyncio.Event) -> None:
        timeout = httpx.Timeout(self.s.http_timeout_s)
        async with httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=True,
            max_redirects=5,
            headers={"User-Agent": self.s.user_agent},
        ) as client:
            while not stop.is_set():
                try:
                    n = await self.poll_once(client)
                except Exception as exc:  # any failure: record, back off, keep going
                    delay = self.backoff.next_delay()
                    reason = f"{type(exc).__name__}: {exc}"[:500]
                    log.warning("rss.poll_failed", source=self.name, reason=reason, retry_s=delay)
                    self.health.down(reason, detail=f"retry in {delay:.0f}s")
                else:
                    self.backoff.reset()
                    delay = self.s.news_poll_interval_s * random.uniform(0.9, 1.1)
                    self.health.up(items=n, detail=f"next poll in {delay:.0f}s")
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    pass


async def run_feeds(
    settings: Settings, producer: Producer, store: Store, stop: asyncio.Event
) -> None:
    pollers = [FeedPoller(n, u, settings, producer, store) for n, u in settings.feeds()]
    await asyncio.gather(*(p.run(stop) for p in pollers))

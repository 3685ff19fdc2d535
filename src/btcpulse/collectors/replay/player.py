"""Playing a bundle: loop 0 is history ending *now* (real time spacing); loops 1, 2, …
follow live at ``speed`` recorded seconds per second (a time-lapse: at speed 60 one recorded
minute lasts one second). Looped items get ids ``replay:<loop>:<id>``.

The cursor (loop, index) and the time anchor are saved at start and after every flush, so a
restart neither repeats nor skips; a crash between a flush and the save re-sends identical
events, which every store write absorbs (natural keys).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from rich.progress import Progress
from sqlalchemy import and_, select

from btcpulse.bus.base import Producer
from btcpulse.collectors.health import HealthReporter
from btcpulse.collectors.replay.bundle import Bundle, Record
from btcpulse.config import Settings
from btcpulse.events import Bar, NewsItem, encode
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state, put_state
from btcpulse.timeutil import to_epoch_us, utcnow

log = structlog.get_logger("replay")

MAX_SPEED = 60.0
STATE_KEY = "replay"


@dataclass
class Cursor:
    anchor: datetime
    speed: float
    loop: int = 0
    index: int = 0


class ReplayClock:
    """Maps recorded times of a loop onto wall time."""

    def __init__(self, bundle: Bundle, cursor: Cursor) -> None:
        self.b = bundle
        self.c = cursor

    def at(self, loop: int, recorded: datetime) -> datetime:
        if loop == 0:
            return self.c.anchor + (recorded - self.b.end)
        offset = self.b.span * (loop - 1) + (recorded - self.b.start)
        return self.c.anchor + offset / self.c.speed


def shifted(rec: Record, loop: int, clock: ReplayClock, now: datetime) -> NewsItem | Bar:
    ev = rec.event
    if isinstance(ev, NewsItem):
        return ev.model_copy(
            update={
                "id": f"replay:{loop}:{ev.id}",
                "published_at": clock.at(loop, ev.published_at),
                "fetched_at": now,
            }
        )
    return ev.model_copy(update={"open_time": clock.at(loop, ev.open_time)})


class ReplayPlayer:
    def __init__(
        self,
        bundle: Bundle,
        settings: Settings,
        producer: Producer,
        store: Store,
        *,
        speed: float,
        loop: bool = True,
        paused: Callable[[], bool] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not 0 < speed <= MAX_SPEED:
            raise ValueError(f"speed must be in (0, {MAX_SPEED:g}]")
        self.b = bundle
        self.s = settings
        self.producer = producer
        self.store = store
        self.loop = loop
        self.paused = paused
        self.now = clock
        self.health = HealthReporter(store, "replay", "replay")
        self.cursor = self._load(speed)
        self.clock = ReplayClock(bundle, self.cursor)
        # The anchor is saved before anything is produced: a crash between the first flush
        # and the first save would otherwise re-send that history under a new anchor (new
        # times, new bar keys: every bar stored twice).
        self._save()

    def _load(self, speed: float) -> Cursor:
        with self.store.read() as conn:
            st = get_state(conn, STATE_KEY)
        now = self.now()
        if not st or st.get("digest") != self.b.digest:
            return Cursor(anchor=now, speed=speed)
        cur = Cursor(datetime.fromisoformat(st["anchor"]), st["speed"], st["loop"], st["index"])
        if cur.speed != speed and cur.loop > 0 and cur.index < len(self.b.records):
            # keep the next record due when it was, and go on at the new speed from there
            known = self.b.records[cur.index].known_at
            due = ReplayClock(self.b, cur).at(cur.loop, known)
            offset = self.b.span * (cur.loop - 1) + (known - self.b.start)
            cur.anchor = due - offset / speed
        cur.speed = speed
        return cur

    def _save(self) -> None:
        c = self.cursor
        with self.store.begin() as conn:
            put_state(
                conn,
                STATE_KEY,
                {
                    "digest": self.b.digest,
                    "anchor": c.anchor.isoformat(),
                    "speed": c.speed,
                    "loop": c.loop,
                    "index": c.index,
                },
            )

    def due(self) -> datetime | None:
        """When the next record is due, or None when the bundle is done (no looping)."""
        c = self.cursor
        if c.index >= len(self.b.records):
            return None
        return self.clock.at(c.loop, self.b.records[c.index].known_at)

    def _advance(self) -> None:
        c = self.cursor
        c.index += 1
        if c.index >= len(self.b.records) and (self.loop or c.loop == 0):
            c.loop, c.index = c.loop + 1, 0

    def emit_due(self, limit: int = 2000) -> int:
        """Produce every record due by now (up to ``limit``); save the cursor; return count."""
        now = self.now()
        n = 0
        while n < limit:
            due = self.due()
            if due is None or due > now:
                break
            ev = shifted(self.b.records[self.cursor.index], self.cursor.loop, self.clock, now)
            if isinstance(ev, NewsItem):
                self.producer.produce(
                    self.s.topic_news,
                    encode(ev),
                    key=ev.id.encode(),
                    timestamp_ms=to_epoch_us(ev.published_at) // 1000,
                )
            else:
                self.producer.produce(
                    self.s.topic_prices,
                    encode(ev),
                    key=f"{ev.venue}:{ev.symbol}".encode(),
                    timestamp_ms=to_epoch_us(ev.open_time) // 1000,
                )
            self._advance()
            n += 1
        if n:
            self._flush()
            self._save()
            c = self.cursor
            self.health.up(
                items=n, detail=f"REPLAY of recorded data at {c.speed:g}x, loop {c.loop}"
            )
        return n

    def _flush(self) -> None:
        """Everything produced is on the bus before the cursor moves past it. While the bus
        does not take it (unreachable), say so in health and keep waiting: the client retries
        by itself, and a message it gives up on raises (the cursor stays where it was)."""
        while (left := self.producer.flush()) != 0:
            log.warning("replay.bus_unreachable", undelivered=left)
            self.health.down(f"bus: {left} message(s) not delivered yet", detail="retrying")

    def backlog(self) -> int:
        """How many records are already due (to size a progress bar)."""
        now = self.now()
        c = self.cursor
        loop, i, n = c.loop, c.index, 0
        while i < len(self.b.records) and self.clock.at(loop, self.b.records[i].known_at) <= now:
            n += 1
            i += 1
            if i >= len(self.b.records) and (self.loop or loop == 0):
                loop, i = loop + 1, 0
        return n

    def run(self, stop: threading.Event, progress: bool = False) -> None:
        backlog = self.backlog()
        log.info("replay.start", loop=self.cursor.loop, index=self.cursor.index, backlog=backlog)
        if backlog and progress:
            with Progress(transient=True) as bar:
                task = bar.add_task("replaying history", total=backlog)
                while not stop.is_set() and (n := self.emit_due()):
                    bar.advance(task, n)
        while not stop.is_set():
            if self.paused is not None and self.paused():
                self.health.status("paused", detail="a live source answers; replay paused")
                stop.wait(5.0)
                continue
            n = self.emit_due()
            due = self.due()
            if due is None:
                self.health.status("done", detail="bundle finished (no loop)")
                return
            if n < 2000:
                stop.wait(min(max((due - self.now()).total_seconds(), 0.0), 1.0))


def live_sources_answer(store: Store, within: timedelta = timedelta(minutes=2)) -> bool:
    """True while a live (non-replay) news or price source has succeeded recently."""
    c = t.source_health.c
    since = utcnow() - within
    with store.read() as conn:
        row = conn.execute(
            select(c.name).where(
                and_(c.kind.in_(["news", "prices"]), c.status == "up", c.last_success >= since)
            )
        ).first()
    return row is not None

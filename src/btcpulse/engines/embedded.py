"""The embedded micro-batch engine: consume, process, and commit results with offsets.

Each batch is written in one store transaction together with the offsets it consumed (the
store is the truth about what has been processed), then its updates are published to the
updates topic. A crash anywhere re-processes at most the uncommitted batch, whose writes are
idempotent. What committed batches touched but the derived analytics have not yet covered
(they run at most once a second while busy) is saved in the same transaction and picked up
by the next start, so a crash between a batch and its derive loses no derived row.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import structlog
from sqlalchemy import Connection

from btcpulse.analytics.alert_rules import parse_rules
from btcpulse.analytics.sentiment import SentimentScorer
from btcpulse.bus.base import Consumer, Producer, TopicPartition
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.config import Settings
from btcpulse.engines.batch import BatchOutcome, apply_batch
from btcpulse.engines.derived import Touched, derive
from btcpulse.engines.stats import EngineStats
from btcpulse.events import AnalyticsUpdate, encode
from btcpulse.store.alert_rules import active_rules
from btcpulse.store.db import Store
from btcpulse.store.retention import apply_retention
from btcpulse.store.writes import (
    get_offsets,
    get_state,
    prune_updates,
    put_health,
    put_offsets,
    put_state,
    put_updates,
)
from btcpulse.timeutil import utcnow

log = structlog.get_logger("engine")

PRUNE_EVERY_S = 60.0
RETAIN_EVERY_S = 3600.0
DERIVE_EVERY_S = 1.0


class EmbeddedEngine:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        consumer: Consumer,
        producer: Producer,
        scorer: SentimentScorer,
    ) -> None:
        self.s = settings
        self.store = store
        self.consumer = consumer
        self.producer = producer
        self.scorer = scorer
        self.stats = EngineStats()
        self.topics = [settings.topic_news, settings.topic_prices, settings.topic_deadletters]
        self._last_health = 0.0
        self._unreported = 0
        self._last_prune = 0.0
        self._last_retain = time.monotonic()  # the first pass an hour after start
        self._pending: dict[bool, Touched] = {}
        self.rules = parse_rules(settings.alert_rules)
        self._last_derive: dict[bool, float] = {}

    @property
    def _pending_key(self) -> str:
        return f"{self.s.engine_group}:pending"

    def _save_pending(self, conn: Connection) -> None:
        """What is still to derive, written with the batch that touched it."""
        worlds = {
            str(int(replay)): {"news_times": w.news_times, "candle_starts": w.candle_starts}
            for replay, w in self._pending.items()
        }
        put_state(conn, self._pending_key, {"worlds": worlds})

    def start(self) -> None:
        self.consumer.subscribe(self.topics)
        with self.store.read() as conn:
            stored = get_offsets(conn, self.s.engine_group)
            pending = (get_state(conn, self._pending_key) or {}).get("worlds", {})
        for replay, touched in pending.items():  # a crash left them underived
            self._pending.setdefault(bool(int(replay)), Touched()).merge(
                Touched(
                    [int(x) for x in touched["news_times"]],
                    {v: [int(x) for x in xs] for v, xs in touched["candle_starts"].items()},
                )
            )
        for tp in self.consumer.assignment():
            # the store is the truth: a partition it has never seen is read from the start
            self.consumer.seek(tp, stored.get(tp, 0))
        log.info(
            "engine.start", offsets={f"{k.topic}[{k.partition}]": v for k, v in stored.items()}
        )

    def run_once(self) -> int:
        """Process one batch (if any arrives within the poll timeout); return its size."""
        msgs = self.consumer.poll(self.s.engine_poll_timeout_s, self.s.engine_max_batch)
        if not msgs:
            if self._pending:
                with self.store.begin() as conn:
                    stored = put_updates(conn, self._derive(conn, busy=False))
                    self._save_pending(conn)
                self._publish(stored)
                self.producer.flush()
                self.stats.updates += len(stored)
            self._heartbeat()
            return 0
        started = time.perf_counter()
        offsets: dict[TopicPartition, int] = {}
        for m in msgs:
            offsets[m.tp] = max(offsets.get(m.tp, 0), m.offset + 1)
        had_pending = bool(self._pending)
        with self.store.begin() as conn:
            outcome: BatchOutcome = apply_batch(conn, msgs, self.scorer, self.s.topic_deadletters)
            for replay, touched in outcome.touched.items():
                self._pending.setdefault(replay, Touched()).merge(touched)
            outcome.updates += self._derive(conn, busy=True)
            stored = put_updates(conn, outcome.updates)
            put_offsets(conn, self.s.engine_group, offsets)
            if self._pending or had_pending:
                self._save_pending(conn)
        self._publish(stored)
        for dl in outcome.dead_letters:
            self.producer.produce(self.s.topic_deadletters, encode(dl), key=dl.error_id.encode())
        self.producer.flush()
        self.consumer.commit(offsets)  # for lag monitoring only; the store is the truth
        self.stats.record(
            msgs,
            updates=len(stored),
            dead_letters=len(outcome.dead_letters),
            seconds=time.perf_counter() - started,
            now_ms=int(time.time() * 1000),
        )
        self._heartbeat(items=len(msgs))
        return len(msgs)

    def _derive(self, conn: Connection, *, busy: bool) -> list[AnalyticsUpdate]:
        """Run the derived analytics on what the batches touched: when idle, or while busy at
        most once per ``DERIVE_EVERY_S`` per world (new articles always go through at once).
        Their rows are written in the same transaction as the batch that triggers them."""
        now = time.monotonic()
        out: list[AnalyticsUpdate] = []
        for replay in list(self._pending):
            touched = self._pending[replay]
            due = now - self._last_derive.get(replay, 0.0) >= DERIVE_EVERY_S
            if busy and not due and not touched.news_times:
                continue
            rules = active_rules(conn, self.rules)
            out += derive(conn, replay, touched, utcnow(), self.scorer.version, rules)
            del self._pending[replay]
            self._last_derive[replay] = now
        return out

    def _publish(self, stored: list[AnalyticsUpdate]) -> None:
        for u in stored:
            self.producer.produce(self.s.topic_updates, encode(u), key=u.key.encode())

    def _heartbeat(self, items: int = 0) -> None:
        """Record health and lag: at most once a second while busy, every 5 s when idle."""
        self._unreported += items
        now = time.monotonic()
        if now - self._last_health < (1.0 if self._unreported else 5.0):
            return
        self._last_health = now
        items, self._unreported = self._unreported, 0
        lag = sum(
            max(self.consumer.end_offset(tp) - self.consumer.position(tp), 0)
            for tp in self.consumer.assignment()
        )
        st = self.stats
        with self.store.begin() as conn:
            put_health(
                conn,
                "engine",
                kind="engine",
                status="up",
                ok=True,
                items=items,
                detail=f"lag {lag} · {st.batches} batches · {st.messages} messages",
            )
            put_state(conn, "engine", st.state(lag))
            if now - self._last_prune >= PRUNE_EVERY_S:
                self._last_prune = now
                prune_updates(conn, utcnow() - timedelta(seconds=self.s.updates_keep_s))
        if now - self._last_retain >= RETAIN_EVERY_S:
            self._last_retain = now
            self.retain()

    def retain(self) -> None:
        """Retention (hourly): raw trades and article text past their age; in embedded mode
        the log's consumed messages past theirs (never what this engine has not stored)."""
        s = self.s
        with self.store.begin() as conn:
            removed = apply_retention(
                conn,
                utcnow(),
                trades_days=s.retention_trades_days,
                article_text_days=s.retention_article_text_days,
                logs_days=s.retention_logs_days,
            )
            stored = get_offsets(conn, s.engine_group)
        trimmed = 0
        if s.mode == "embedded" and s.retention_log_days > 0:
            cutoff = utcnow() - timedelta(days=s.retention_log_days)
            trimmed = EmbeddedLog(s.resolved_bus_path).trim(
                int(cutoff.timestamp() * 1000), protect=stored
            )
        if removed.trades or removed.article_texts or removed.logs or trimmed:
            log.info(
                "engine.retention",
                trades=removed.trades,
                article_texts=removed.article_texts,
                log_records=removed.logs,
                log_messages=trimmed,
            )

    def run(self, stop: threading.Event) -> None:
        self.start()
        while not stop.is_set():
            self.run_once()
        log.info("engine.stop", batches=self.stats.batches, messages=self.stats.messages)

"""Both ends of a latency measurement: trades into the bus, candle updates off ``/ws``.

Also the engine's own timestamps, read back from the updates topic (the embedded log or Kafka),
to split the latency.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common import SYMBOL
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from btcpulse.bus.factory import open_bus
from btcpulse.config import Settings
from btcpulse.events import Trade, encode
from btcpulse.timeutil import to_epoch_us, utcnow


@dataclass
class Sent:
    """A trade this process put in the bus, and when."""

    trade: Trade
    window: int  # the trade's 1 s window (epoch seconds)
    rank: int  # 1-based position of the trade within its window
    bus_at: float  # perf_counter when the flush returned (the event is in the bus)
    bus_wall: float  # time.time() at the same moment (to line up with other processes)
    flush_s: float
    measured: bool


@dataclass
class Received:
    """A 1 s candle update of the bench venue, as it came off ``/ws``."""

    at: float
    wall: float
    seq: int
    window: int
    trades: int
    close: float


@dataclass
class WsListener:
    """Reads every message from ``/ws`` in a thread and keeps the 1 s candles of one venue."""

    url: str
    venue: str
    got: list[Received] = field(default_factory=list)
    hello: dict[str, Any] | None = None
    updates_seen: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        """Connect in a thread; return once the hello arrived."""
        self._thread = threading.Thread(target=self._run, name="ws-listener", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("no hello on the WebSocket within 30 s")

    def _run(self) -> None:
        """The thread: read until stopped or closed, keeping the matching candles."""
        with connect(self.url, open_timeout=30, max_size=None) as ws:
            self.hello = json.loads(ws.recv(timeout=30))
            self._ready.set()
            while not self._stop.is_set():
                try:
                    raw = ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return
                at, wall = time.perf_counter(), time.time()
                msg = json.loads(raw)
                self.updates_seen += 1
                data = msg.get("data", {})
                if (
                    msg.get("kind") == "candle"
                    and data.get("venue") == self.venue
                    and data.get("resolution") == "1s"
                ):
                    rec = Received(
                        at, wall, msg["seq"], data["t"], int(data["trades"]), float(data["close"])
                    )
                    with self._lock:
                        self.got.append(rec)

    def snapshot(self) -> list[Received]:
        """The candles received so far."""
        with self._lock:
            return list(self.got)

    def stop(self) -> None:
        """Stop reading and close the connection (waits up to 5 s)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


class TradeSource:
    """Produces one trade at a time (flushed), with fresh ids and event time = now."""

    def __init__(self, s: Settings, venue: str) -> None:
        """A producer on the bus of ``s`` (embedded log or Kafka) for trades of ``venue``."""
        self.s = s
        self.venue = venue
        self.producer = open_bus(s).producer()
        self.rng = random.Random(11)
        self.price = 27_000.0
        self.sent: list[Sent] = []
        self.per_window: dict[int, int] = defaultdict(int)

    def send(self, measured: bool) -> Sent:
        """Produce and flush one trade; ``measured`` marks it as a latency sample."""
        self.price = round(max(1.0, self.price + self.rng.gauss(0.0, 1.5)), 2)
        tr = Trade(
            exchange=self.venue,
            symbol=SYMBOL,
            trade_id=f"lat-{os.getpid()}-{len(self.sent)}",
            price=f"{self.price:.2f}",
            size="0.01000000",
            side="buy",
            time=utcnow(),
        )
        window = to_epoch_us(tr.time) // 1_000_000
        self.per_window[window] += 1
        t0 = time.perf_counter()
        self.producer.produce(
            self.s.topic_prices,
            encode(tr),
            key=f"{tr.exchange}:{tr.symbol}".encode(),
            timestamp_ms=to_epoch_us(tr.time) // 1000,
        )
        self.producer.flush()
        t1 = time.perf_counter()
        sent = Sent(tr, window, self.per_window[window], t1, time.time(), t1 - t0, measured)
        self.sent.append(sent)
        return sent

    def close(self) -> None:
        """Close the producer."""
        self.producer.close()


def first_reflecting(sent: Sent, got: list[Received]) -> Received | None:
    """The first 1 s candle update of the trade's window that counts the trade."""
    for r in got:
        if r.window == sent.window and r.trades >= sent.rank:
            return r
    return None


def engine_times(bus_path: Path, topic: str) -> dict[int, tuple[float, float]]:
    """seq → (engine's batch clock, publish timestamp) in epoch seconds, from the updates topic."""
    conn = sqlite3.connect(bus_path)
    try:
        rows = conn.execute(
            "SELECT value, timestamp_ms FROM log WHERE topic=? ORDER BY offset", (topic,)
        ).fetchall()
    finally:
        conn.close()
    return _times((value, ts_ms) for value, ts_ms in rows)


def engine_times_kafka(s: Settings, timeout_s: float = 30.0) -> dict[int, tuple[float, float]]:
    """The same from the Kafka updates topic of ``s`` (the producer's CreateTime is the
    publish timestamp): read it whole with a throw-away consumer group."""
    consumer = open_bus(s).consumer(f"bench-times-{os.getpid()}-{time.time_ns()}", "earliest")
    rows: list[tuple[bytes, int]] = []
    try:
        consumer.subscribe([s.topic_updates])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rows += [(m.value, m.timestamp_ms) for m in consumer.poll(0.5, 10_000)]
            tps = consumer.assignment()
            if rows and all(consumer.position(tp) >= consumer.end_offset(tp) for tp in tps):
                break
    finally:
        consumer.close()
    return _times(rows)


def _times(rows: Iterable[tuple[bytes | str, int]]) -> dict[int, tuple[float, float]]:
    """seq → (``time`` field, message timestamp) of update messages, in epoch seconds."""
    out = {}
    for value, ts_ms in rows:
        u = json.loads(value)
        out[int(u["seq"])] = (datetime.fromisoformat(u["time"]).timestamp(), ts_ms / 1000)
    return out

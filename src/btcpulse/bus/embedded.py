"""An embedded, durable bus: a SQLite (WAL) log with topics, partitions, offsets and groups.

Several processes may produce and consume at once. Each topic has a fixed number of
partitions (default 1), chosen by key hash. Committed group offsets live in the same file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Literal

from btcpulse.bus.base import Message, TopicPartition

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    topic TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
);
"""


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(_SCHEMA)
    return conn


class EmbeddedLog:
    """A handle on the log file; hands out producers and consumers."""

    def __init__(self, path: Path, default_partitions: int = 1) -> None:
        self.path = Path(path)
        self.default_partitions = default_partitions
        _connect(self.path).close()

    def producer(self) -> EmbeddedProducer:
        return EmbeddedProducer(self.path, self.default_partitions)

    def consumer(
        self, group: str, auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    ) -> EmbeddedConsumer:
        return EmbeddedConsumer(self.path, group, auto_offset_reset)

    def trim(self, before_ms: int, protect: dict[TopicPartition, int] | None = None) -> int:
        """Delete messages older than ``before_ms`` that every consumer group has committed
        past (and those ``protect`` maps below their offset). The newest message of each
        partition stays, so offsets keep counting up. Returns how many were deleted."""
        conn = _connect(self.path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            parts = conn.execute(
                "SELECT topic, partition, MAX(offset) FROM log GROUP BY topic, partition"
            ).fetchall()
            removed = 0
            for topic, part, last in parts:
                limits = [int(last)]
                row = conn.execute(
                    "SELECT MIN(next_offset) FROM group_offsets WHERE topic=? AND partition=?",
                    (topic, part),
                ).fetchone()
                if row[0] is not None:
                    limits.append(int(row[0]))
                if protect and (off := protect.get(TopicPartition(topic, part))) is not None:
                    limits.append(off)
                removed += conn.execute(
                    "DELETE FROM log WHERE topic=? AND partition=? AND offset<? AND timestamp_ms<?",
                    (topic, part, min(limits), before_ms),
                ).rowcount
            conn.execute("COMMIT")
            return removed
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def create_topic(self, topic: str, partitions: int) -> None:
        conn = _connect(self.path)
        try:
            conn.execute(
                "INSERT OR IGNORE INTO topics(topic, partitions) VALUES (?, ?)", (topic, partitions)
            )
        finally:
            conn.close()


def _partitions(conn: sqlite3.Connection, topic: str, default: int) -> int:
    row = conn.execute("SELECT partitions FROM topics WHERE topic=?", (topic,)).fetchone()
    if row is not None:
        return int(row[0])
    conn.execute("INSERT OR IGNORE INTO topics(topic, partitions) VALUES (?, ?)", (topic, default))
    row = conn.execute("SELECT partitions FROM topics WHERE topic=?", (topic,)).fetchone()
    return int(row[0])


class EmbeddedProducer:
    def __init__(self, path: Path, default_partitions: int = 1) -> None:
        self._conn = _connect(path)
        self._default_partitions = default_partitions
        self._queue: list[tuple[str, bytes | None, bytes, int]] = []
        self._lock = threading.Lock()

    def produce(
        self, topic: str, value: bytes, *, key: bytes | None = None, timestamp_ms: int | None = None
    ) -> None:
        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        with self._lock:
            self._queue.append((topic, key, bytes(value), ts))
            big = len(self._queue) >= 10_000
        if big:
            self.flush()

    def flush(self, timeout: float = 10.0) -> int:
        with self._lock:
            batch, self._queue = self._queue, []
            if not batch:
                return 0
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                nparts: dict[str, int] = {}
                next_off: dict[tuple[str, int], int] = {}
                rows = []
                for topic, key, value, ts in batch:
                    if topic not in nparts:
                        nparts[topic] = _partitions(conn, topic, self._default_partitions)
                    n = nparts[topic]
                    part = zlib.crc32(key) % n if (key is not None and n > 1) else 0
                    tp = (topic, part)
                    if tp not in next_off:
                        row = conn.execute(
                            "SELECT MAX(offset) FROM log WHERE topic=? AND partition=?", tp
                        ).fetchone()
                        next_off[tp] = -1 if row[0] is None else int(row[0])
                    next_off[tp] += 1
                    rows.append((topic, part, next_off[tp], key, value, ts))
                conn.executemany(
                    "INSERT INTO log(topic, partition, offset, key, value, timestamp_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._queue[:0] = batch
                raise
            return 0

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._conn.close()


class EmbeddedConsumer:
    def __init__(
        self, path: Path, group: str, auto_offset_reset: Literal["earliest", "latest"]
    ) -> None:
        self._conn = _connect(path)
        self.group = group
        self._reset = auto_offset_reset
        self._topics: list[str] = []
        self._positions: dict[TopicPartition, int] = {}

    # -- assignment -------------------------------------------------------------------------
    def subscribe(self, topics: list[str]) -> None:
        self._topics = list(topics)
        self._refresh_assignment()

    def _refresh_assignment(self) -> None:
        for topic in self._topics:
            n = _partitions(self._conn, topic, 1)
            for p in range(n):
                tp = TopicPartition(topic, p)
                if tp in self._positions:
                    continue
                committed = self.committed(tp)
                if committed is not None:
                    self._positions[tp] = committed
                elif self._reset == "latest":
                    self._positions[tp] = self.end_offset(tp)
                else:
                    self._positions[tp] = self._start_offset(tp)

    def assignment(self) -> list[TopicPartition]:
        return list(self._positions)

    def _start_offset(self, tp: TopicPartition) -> int:
        row = self._conn.execute(
            "SELECT MIN(offset) FROM log WHERE topic=? AND partition=?", (tp.topic, tp.partition)
        ).fetchone()
        return 0 if row[0] is None else int(row[0])

    # -- reading ----------------------------------------------------------------------------
    def poll(self, timeout: float, max_messages: int = 1000) -> list[Message]:
        deadline = time.monotonic() + max(timeout, 0.0)
        pause = 0.002
        while True:
            out = self._fetch(max_messages)
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, 0.02)

    def _fetch(self, max_messages: int) -> list[Message]:
        out: list[Message] = []
        for tp, pos in list(self._positions.items()):
            room = max_messages - len(out)
            if room <= 0:
                break
            rows = self._conn.execute(
                "SELECT offset, key, value, timestamp_ms FROM log"
                " WHERE topic=? AND partition=? AND offset>=? ORDER BY offset LIMIT ?",
                (tp.topic, tp.partition, pos, room),
            ).fetchall()
            for off, key, value, ts in rows:
                out.append(Message(tp.topic, tp.partition, int(off), key, bytes(value), int(ts)))
            if rows:
                self._positions[tp] = int(rows[-1][0]) + 1
        return out

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._positions[tp] = offset

    def position(self, tp: TopicPartition) -> int:
        return self._positions[tp]

    def end_offset(self, tp: TopicPartition) -> int:
        row = self._conn.execute(
            "SELECT MAX(offset) FROM log WHERE topic=? AND partition=?", (tp.topic, tp.partition)
        ).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    # -- offsets ----------------------------------------------------------------------------
    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        items = (offsets if offsets is not None else self._positions).items()
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(
                "INSERT INTO group_offsets(grp, topic, partition, next_offset)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(grp, topic, partition)"
                " DO UPDATE SET next_offset=excluded.next_offset",
                [(self.group, tp.topic, tp.partition, off) for tp, off in items],
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def committed(self, tp: TopicPartition) -> int | None:
        row = self._conn.execute(
            "SELECT next_offset FROM group_offsets WHERE grp=? AND topic=? AND partition=?",
            (self.group, tp.topic, tp.partition),
        ).fetchone()
        return None if row is None else int(row[0])

    def lag(self) -> int:
        return sum(max(self.end_offset(tp) - pos, 0) for tp, pos in self._positions.items())

    def close(self) -> None:
        self._conn.close()


def topic_sizes(path: Path) -> dict[str, int]:
    """Messages held per topic (for doctor and health)."""
    conn = _connect(path)
    try:
        sizes: dict[str, int] = defaultdict(int)
        for topic, n in conn.execute("SELECT topic, COUNT(*) FROM log GROUP BY topic"):
            sizes[str(topic)] += int(n)
        return dict(sizes)
    finally:
        conn.close()

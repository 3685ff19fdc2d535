"""Judging a WebSocket load run (``ws_load``): what was published, and whether every
client got it; plus the ``/proc`` helpers to find the web app and read its memory.

Completeness: every seq after a client's first hello, up to the server's last seq when the run
ended, must have reached the client, pushed or read back from ``/api/v1/updates`` after a
reconnect; a seq it has neither way counts as missed unless a newer snapshot of the same key
replaced it (see :func:`analyse`).
Push latency: receipt minus the updates-topic timestamp of the seq (the engine's publish, right
after its store commit).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.testing.ws_load import ClientLog


@dataclass(frozen=True)
class Published:
    """Every update the server published: seq order, with key index and two server times."""

    seq: np.ndarray[Any, np.dtype[np.int64]]
    key: np.ndarray[Any, np.dtype[np.int64]]
    published: np.ndarray[Any, np.dtype[np.float64]]  # updates-topic timestamp (epoch s)
    batch: np.ndarray[Any, np.dtype[np.float64]]  # `AnalyticsUpdate.time` (engine batch clock)


def published_updates(bus_path: Path, topic: str, store_url: str) -> Published:
    """The updates topic of the embedded log, plus any seq only the store has."""
    rows: dict[int, tuple[str, float, float]] = {}
    conn = sqlite3.connect(f"file:{bus_path}?mode=ro", uri=True)
    try:
        for value, ts_ms in conn.execute(
            "SELECT value, timestamp_ms FROM log WHERE topic=?", (topic,)
        ):
            u = json.loads(value)
            when = _epoch(u["time"])
            rows[int(u["seq"])] = (u["key"], ts_ms / 1000, when)
    finally:
        conn.close()
    store = Store(store_url)
    try:
        with store.read() as sc:
            c = t.updates.c
            for seq, key, when in sc.execute(select(c.seq, c.key, c.time)):
                rows.setdefault(int(seq), (key, when.timestamp(), when.timestamp()))
    finally:
        store.dispose()
    order = sorted(rows)
    keys: dict[str, int] = {}
    return Published(
        np.array(order, dtype=np.int64),
        np.array([keys.setdefault(rows[s][0], len(keys)) for s in order], dtype=np.int64),
        np.array([rows[s][1] for s in order], dtype=np.float64),
        np.array([rows[s][2] for s in order], dtype=np.float64),
    )


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@dataclass
class LoadReport:
    clients: int
    samples: int  # pushed updates received (all clients)
    push_ms: dict[str, float]  # publish → receipt: p50 p95 p99 max
    batch_ms: dict[str, float]  # engine batch clock → receipt: p50 p99
    expected: int  # (client, seq) pairs each client had to get
    received: int  # of which received (pushed or caught up)
    superseded: int  # of which covered by a newer snapshot of the same key
    misses: int  # of which neither: lost
    clients_missing: int
    unknown: int  # seqs received that were never published (must be 0)
    duplicates: int  # the same seq pushed twice to one client
    caught_up: int  # updates applied from /api/v1/updates after a reconnect
    connects: int
    disconnects: int
    reloads: int
    drops: int  # sockets dropped on purpose by churning clients (not disconnects)
    close_reasons: dict[str, int]
    updates_published: int  # in the measured window (the widest client window)
    p99_by_minute: list[float]  # push latency p99 (ms) per minute of publish time


def _pcts(values: np.ndarray[Any, np.dtype[np.float64]], qs: tuple[int, ...]) -> dict[str, float]:
    if not len(values):
        return {}
    out = {f"p{q}": float(np.percentile(values, q, method="inverted_cdf")) for q in qs}
    out["max"] = float(values.max())
    return out


def _newest(pub: Published, seqs: np.ndarray[Any, np.dtype[np.int64]]) -> np.ndarray[Any, Any]:
    """Per key index: the highest of ``seqs`` (published ones only) with that key, or -1."""
    idx = np.searchsorted(pub.seq, seqs)
    ok = (idx < len(pub.seq)) & (pub.seq[np.minimum(idx, len(pub.seq) - 1)] == seqs)
    out = np.full(int(pub.key.max(initial=0)) + 1, -1, dtype=np.int64)
    np.maximum.at(out, pub.key[idx[ok]], seqs[ok])
    return out


def analyse(logs: list[ClientLog], pub: Published) -> LoadReport:
    """Judge every client against what was published (see the module doc).

    A seq the client has neither way is *superseded* (not missed) when a newer seq of its key
    reached the client through the catch-up (the store had replaced it: all a catch-up can
    return), or through a push when no client at all was pushed the seq (the server's own gap
    fill from the store skipped it). A seq that others were pushed and this client only got a
    newer push of is a miss: its catch-up did not bring it."""
    lat: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    blat: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    sent: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    expected = received = superseded = misses = missing = unknown = dups = 0
    lo, hi = min((g.start_seq for g in logs), default=0), max((g.end_seq for g in logs), default=0)
    every_ws = [np.frombuffer(g.ws_seq, dtype=np.int64) for g in logs]
    never_pushed = ~np.isin(pub.seq, np.concatenate(every_ws) if every_ws else np.zeros(0))
    for g, ws in zip(logs, every_ws, strict=True):
        caught = np.frombuffer(g.caught, dtype=np.int64)
        got = np.union1d(ws, caught)
        dups += len(ws) - len(np.unique(ws))
        unknown += int((~np.isin(got, pub.seq)).sum())
        widx = np.searchsorted(pub.seq, ws)
        wok = (widx < len(pub.seq)) & (pub.seq[np.minimum(widx, len(pub.seq) - 1)] == ws)
        at = np.frombuffer(g.ws_at, dtype=np.float64)
        lat.append((at[wok] - pub.published[widx[wok]]) * 1000)
        sent.append(pub.published[widx[wok]])
        blat.append((at[wok] - pub.batch[widx[wok]]) * 1000)
        window = (pub.seq > g.start_seq) & (pub.seq <= g.end_seq)
        has = np.isin(pub.seq, got)
        covered = (_newest(pub, caught)[pub.key] > pub.seq) | (
            never_pushed & (_newest(pub, got)[pub.key] > pub.seq)
        )
        expected += int(window.sum())
        received += int((window & has).sum())
        superseded += int((window & ~has & covered).sum())
        lost = int((window & ~has & ~covered).sum())
        misses += lost
        missing += lost > 0
    push = np.concatenate(lat) if lat else np.zeros(0)
    minute = np.concatenate(sent) // 60 if sent else np.zeros(0)
    by_minute = [float(np.percentile(push[minute == m], 99)) for m in np.unique(minute)]
    reasons = Counter(c.split(":", 1)[0] for g in logs for c in g.closes)
    return LoadReport(
        clients=len(logs),
        samples=len(push),
        push_ms=_pcts(push, (50, 95, 99)),
        batch_ms=_pcts(np.concatenate(blat) if blat else np.zeros(0), (50, 99)),
        expected=expected,
        received=received,
        superseded=superseded,
        misses=misses,
        clients_missing=missing,
        unknown=unknown,
        duplicates=dups,
        caught_up=sum(len(g.caught) for g in logs),
        connects=sum(g.connects for g in logs),
        disconnects=sum(len(g.closes) for g in logs),
        reloads=sum(g.reloads for g in logs),
        drops=sum(g.drops for g in logs),
        close_reasons=dict(reasons),
        updates_published=int(((pub.seq > lo) & (pub.seq <= hi)).sum()),
        p99_by_minute=by_minute,
    )


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def find_child(root: int, command: tuple[str, ...]) -> int | None:
    """The first descendant of ``root`` whose command line ends with ``command``."""
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        except OSError:
            continue
        if tuple(a.decode(errors="replace") for a in argv[-len(command) :]) == command:
            return pid
        stack += _children(pid)
    return None


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in kB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """VmRSS of the ``btcpulse serve`` child of ``root`` every ``every_s``, in a thread (a
    restarted child is followed; every pid seen is kept)."""

    def __init__(self, root: int, every_s: float = 2.0) -> None:
        """Sample the ``serve`` descendant of ``root``."""
        self.root, self.every_s = root, every_s
        self.samples: list[tuple[float, float]] = []  # (monotonic s, MB)
        self.pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def _run(self) -> None:
        """The thread: one sample every ``every_s`` until stopped."""
        pid: int | None = None
        while not self._stop.is_set():
            if pid is None or not rss_kb(pid):
                pid = find_child(self.root, ("btcpulse", "serve"))
            kb = rss_kb(pid) if pid is not None else 0
            if pid is not None and kb:
                self.pids.add(pid)
                self.samples.append((time.monotonic(), kb / 1024))
            self._stop.wait(self.every_s)

    def start(self) -> RssSampler:
        """Start sampling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling (waits for the thread)."""
        self._stop.set()
        self._thread.join(10)

    def between(self, t0: float, t1: float) -> list[tuple[float, float]]:
        """The samples taken from ``t0`` to ``t1`` (monotonic seconds)."""
        return [s for s in list(self.samples) if t0 <= s[0] <= t1]


@dataclass(frozen=True)
class Trend:
    """Resident memory over the run: least-squares slopes, first/last-minute means."""

    slope_mb_min: float
    late_slope_mb_min: float  # over the second half only (after any warm-up growth)
    first_mb: float
    last_mb: float
    max_mb: float
    per_minute: list[float]
    samples: int
    minutes: float

    @classmethod
    def of(cls, samples: list[tuple[float, float]], edge_s: float = 60.0) -> Trend:
        """The trend of ``samples`` ((monotonic s, MB), at least four)."""
        ts = (np.array([s[0] for s in samples]) - samples[0][0]) / 60
        mb = np.array([s[1] for s in samples])
        late = ts >= ts[-1] / 2
        return cls(
            float(np.polyfit(ts, mb, 1)[0]),
            float(np.polyfit(ts[late], mb[late], 1)[0]),
            float(mb[ts <= edge_s / 60].mean()),
            float(mb[ts >= ts[-1] - edge_s / 60].mean()),
            float(mb.max()),
            [float(mb[ts.astype(int) == m].mean()) for m in np.unique(ts.astype(int))],
            len(mb),
            float(ts[-1]),
        )

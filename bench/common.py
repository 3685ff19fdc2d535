"""Shared plumbing for the benchmark parts: paths, the work plan, figures and small helpers.

Everything here is used by more than one of ``throughput``, ``latency`` and ``report``.
"""

from __future__ import annotations

import math
import shutil
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from btcpulse.analytics.sentiment import make_scorer
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.config import Settings
from btcpulse.engines.embedded import EmbeddedEngine
from btcpulse.store.db import Store

ROOT = Path(__file__).resolve().parents[1]
REPLAY = ROOT / "data" / "replay"
DEFAULT_OUTPUT = ROOT / "bench" / "RESULTS.md"
SYMBOL = "BTC-USD"

T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    """One row of the results table."""

    name: str
    value: float | int
    unit: str
    how: str

    def cell(self) -> str:
        """The value as shown in the table (thousands separators, fewer decimals when large)."""
        if isinstance(self.value, int):
            return f"{self.value:,}"
        if abs(self.value) >= 100:
            return f"{self.value:,.0f}"
        return f"{self.value:.1f}" if abs(self.value) >= 10 else f"{self.value:.2f}"


@dataclass(frozen=True)
class Plan:
    """How much work each part does (``--quick`` shrinks everything)."""

    runs: int
    synthetic_trades: int
    latency_warmup: int
    latency_samples: int
    updates_rows: int
    latency_rate_hz: float = 20.0
    samples_csv: Path | None = None  # where to dump the per-trade latency samples

    @classmethod
    def make(cls, quick: bool, samples_csv: Path | None = None) -> Plan:
        """The full plan, or the smoke-run one when ``quick``."""
        if quick:
            return cls(1, 5_000, 10, 60, 10_000, samples_csv=samples_csv)
        return cls(3, 50_000, 40, 300, 86_400, samples_csv=samples_csv)


def settings_for(data_dir: Path, port: int = 8000) -> Settings:
    """Settings for a bench data dir: no live sources, the repo's replay bundle, no ``.env``."""
    return Settings(
        data_dir=data_dir,
        port=port,
        live_sources=False,
        replay_path=REPLAY,
        _env_file=None,
    )


@contextmanager
def data_dir(parent: Path, name: str) -> Iterator[Path]:
    """A fresh directory ``parent/name``, removed on exit."""
    path = parent / name
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fresh_store(s: Settings) -> Store:
    """The store of ``s``, migrated."""
    store = Store(s.resolved_store_url)
    store.migrate()
    return store


def make_engine(s: Settings, store: Store, bus: EmbeddedLog) -> EmbeddedEngine:
    """The engine exactly as ``btcpulse process`` builds it."""
    return EmbeddedEngine(
        s, store, bus.consumer(s.engine_group), bus.producer(), make_scorer(s.sentiment_model)
    )


def drain(engine: EmbeddedEngine) -> float:
    """Run batches until the engine's consumer has no lag; return the seconds it took."""
    c = engine.consumer
    t0 = time.perf_counter()
    while any(c.end_offset(tp) > c.position(tp) for tp in c.assignment()):
        engine.run_once()
    return time.perf_counter() - t0


def updates_published(s: Settings) -> int:
    """How many messages the updates topic of ``s`` holds."""
    return topic_size(s.resolved_bus_path, s.topic_updates)


def topic_size(bus_path: Path, topic: str) -> int:
    """How many messages ``topic`` holds in the embedded bus at ``bus_path``."""
    conn = sqlite3.connect(bus_path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM log WHERE topic=?", (topic,)).fetchone()[0])
    finally:
        conn.close()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def median_rate(rates: list[float]) -> tuple[float, str]:
    """The median of per-run rates, and the runs' range for the table (when there are several)."""
    if len(rates) == 1:
        return rates[0], "1 run"
    return statistics.median(rates), f"median of {len(rates)} ({min(rates):,.0f}-{max(rates):,.0f})"


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` every 50 ms until it returns something truthy (errors count as "not yet")."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the service may not be up yet
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}; last error: {last!r}")

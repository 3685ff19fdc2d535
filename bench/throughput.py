"""Throughput parts: replay and synthetic trades through the engine, and its heartbeat prune.

Producer and engine run one after the other in this process, each in a fresh data dir, so
the rates are per component.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from common import (
    REPLAY,
    SYMBOL,
    Figure,
    Plan,
    data_dir,
    drain,
    fresh_store,
    make_engine,
    median_rate,
    settings_for,
    updates_published,
)

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import Bundle, load_bundle
from btcpulse.collectors.replay.player import ReplayPlayer
from btcpulse.events import AnalyticsUpdate, Trade, encode
from btcpulse.store.writes import prune_updates, put_updates
from btcpulse.timeutil import to_epoch_us, utcnow


# -- 1. replay throughput ------------------------------------------------------------------------
@dataclass
class ReplayRun:
    """One replay of the bundle's loop 0: counts and the produce / engine seconds."""

    events: int
    produce_s: float
    engine_s: float
    batches: int
    updates: int


def replay_once(bundle: Bundle, workdir: Path) -> ReplayRun:
    """Replay loop 0 into a fresh bus in ``workdir``, then drain it through the engine."""
    s = settings_for(workdir)
    store = fresh_store(s)
    bus = EmbeddedLog(s.resolved_bus_path)
    producer = bus.producer()
    try:
        player = ReplayPlayer(bundle, s, producer, store, speed=60.0, loop=False)
        t0 = time.perf_counter()
        produced = 0
        while player.cursor.loop == 0:  # loop 0 = the whole bundle as history ending now
            produced += player.emit_due(limit=len(bundle.records) - player.cursor.index)
        produce_s = time.perf_counter() - t0
        engine = make_engine(s, store, bus)
        engine.start()
        engine_s = drain(engine)
        if engine.stats.messages != produced:
            raise RuntimeError(f"engine saw {engine.stats.messages} of {produced} events")
        run = ReplayRun(produced, produce_s, engine_s, engine.stats.batches, updates_published(s))
        engine.consumer.close()
        engine.producer.close()
        return run
    finally:
        producer.close()
        store.dispose()


def bench_replay(plan: Plan, tmp: Path) -> list[Figure]:
    """Bundle load time and replay produce / engine / end-to-end rates."""
    t0 = time.perf_counter()
    bundle = load_bundle(REPLAY)
    load_s = time.perf_counter() - t0
    runs = []
    for i in range(plan.runs):
        with data_dir(tmp, f"replay{i}") as d:
            runs.append(replay_once(bundle, d))
    n = runs[0].events
    bars = sum(1 for r in bundle.records if r.event.type == "bar")
    produce, produce_how = median_rate([r.events / r.produce_s for r in runs])
    engine, engine_how = median_rate([r.events / r.engine_s for r in runs])
    e2e, e2e_how = median_rate([r.events / (r.produce_s + r.engine_s) for r in runs])
    return [
        Figure("replay: bundle load (`load_bundle`)", load_s * 1000, "ms", "once"),
        Figure(
            "replay: events in loop 0",
            n,
            "events",
            f"{bars:,} 1-minute bars + {n - bars:,} headlines (`data/replay/`)",
        ),
        Figure(
            "replay: produce rate",
            produce,
            "events/s",
            "`ReplayPlayer.emit_due()` until loop 0 is done (incl. bus flush + cursor save), "
            f"fresh data dir per run; {produce_how}",
        ),
        Figure(
            "replay: engine rate",
            engine,
            "events/s",
            "`EmbeddedEngine` (as `btcpulse process` builds it, default sentiment model): "
            "`run_once()` until "
            f"consumer lag = 0; {runs[0].batches} batch, {runs[0].updates:,} updates published; "
            + engine_how,
        ),
        Figure(
            "replay: end-to-end rate",
            e2e,
            "events/s",
            f"events / (produce + engine time), one after the other; {e2e_how}",
        ),
    ]


# -- 1b. synthetic live trades ---------------------------------------------------------------
def synthetic_trades(n: int, span: timedelta, seed: int = 7) -> list[Trade]:
    """``n`` trades on one venue spread over ``span`` ending now, prices from a random walk."""
    rng = random.Random(seed)
    end = utcnow()
    start = end - span
    step_us = span / timedelta(microseconds=1) / n
    price = 27_000.0
    out = []
    for i in range(n):
        price = max(1.0, price + rng.gauss(0.0, 1.5))
        at = start + timedelta(microseconds=int(i * step_us + rng.random() * step_us))
        out.append(
            Trade(
                exchange="bench-synthetic",
                symbol=SYMBOL,
                trade_id=str(100_000_000 + i),
                price=f"{price:.2f}",
                size=f"{rng.expovariate(1 / 0.02):.8f}",
                side=rng.choice(("buy", "sell")),
                time=at,
            )
        )
    return out


@dataclass
class TradesRun:
    """One batch of synthetic trades: the produce / engine seconds and what the engine did."""

    produce_s: float
    engine_s: float
    batches: int
    updates: int


def trades_once(trades: list[Trade], workdir: Path) -> TradesRun:
    """Produce ``trades`` into a fresh bus in ``workdir``, then drain them through the engine."""
    s = settings_for(workdir)
    store = fresh_store(s)
    bus = EmbeddedLog(s.resolved_bus_path)
    producer = bus.producer()
    try:
        t0 = time.perf_counter()
        for tr in trades:  # as the Coinbase collector does, flushed once at the end
            producer.produce(
                s.topic_prices,
                encode(tr),
                key=f"{tr.exchange}:{tr.symbol}".encode(),
                timestamp_ms=to_epoch_us(tr.time) // 1000,
            )
        producer.flush()
        produce_s = time.perf_counter() - t0
        engine = make_engine(s, store, bus)
        engine.start()
        engine_s = drain(engine)
        if engine.stats.messages != len(trades):
            raise RuntimeError(f"engine saw {engine.stats.messages} of {len(trades)} trades")
        run = TradesRun(produce_s, engine_s, engine.stats.batches, updates_published(s))
        engine.consumer.close()
        engine.producer.close()
        return run
    finally:
        producer.close()
        store.dispose()


def trades_rate(plan: Plan, tmp: Path, n: int, span: timedelta, tag: str) -> list[TradesRun]:
    """``plan.runs`` runs of ``n`` fresh synthetic trades over ``span``."""
    runs = []
    for i in range(plan.runs):
        trades = synthetic_trades(n, span)  # ends "now" for each run
        with data_dir(tmp, f"{tag}{i}") as d:
            runs.append(trades_once(trades, d))
    return runs


def bench_trades(plan: Plan, tmp: Path) -> list[Figure]:
    """Trade produce rate, and engine rates for a busy and a quiet market."""
    # the live shape: ~14 trades/s, so every 1 s window of the hour has trades
    n = plan.synthetic_trades
    span = timedelta(hours=1) * (n / 50_000)
    dense = trades_rate(plan, tmp, n, span, "dense")
    what = (
        f"{n:,} `Trade`s, one venue, random-walk prices, over {span.total_seconds() / 60:g} min"
        " of event time ending now"
    )
    # a quiet market: < 1.4 trades/s, so most 1 s windows are separate ranges
    n_sparse = 5_000
    sparse = trades_rate(plan, tmp, n_sparse, timedelta(hours=1), "sparse")
    produce, produce_how = median_rate([n / r.produce_s for r in dense])
    engine, engine_how = median_rate([n / r.engine_s for r in dense])
    sparse_rate, sparse_how = median_rate([n_sparse / r.engine_s for r in sparse])
    return [
        Figure(
            "trades: produce rate",
            produce,
            "events/s",
            f"{what}; `produce()` each + one `flush()`; {produce_how}",
        ),
        Figure(
            "trades: engine rate (1 s candles + rollups)",
            engine,
            "events/s",
            f"same trades; `run_once()` until lag = 0, {dense[0].batches} batch(es) of ≤ 5,000, "
            f"{dense[0].updates:,} updates published; {engine_how}",
        ),
        Figure(
            "trades: engine rate, sparse (quiet market)",
            sparse_rate,
            "events/s",
            f"{n_sparse:,} trades over 1 h (one batch, {sparse[0].updates:,} updates published: "
            f"one per touched window); {sparse_how}",
        ),
    ]


# -- 1c. the engine's heartbeat on a day of updates -----------------------------------------
def bench_prune(plan: Plan, tmp: Path) -> list[Figure]:
    """``prune_updates`` (run by the engine's heartbeat, once a minute) on an updates
    table holding one day of 1 s candle updates for one venue, none of them old enough to go."""
    n = plan.updates_rows
    with data_dir(tmp, "prune") as d:
        store = fresh_store(settings_for(d))
        try:
            now = utcnow()
            ups = [
                AnalyticsUpdate(
                    key=f"candle:bench:{SYMBOL}:1s:{i}",
                    kind="candle",
                    data={"venue": "bench", "symbol": SYMBOL, "resolution": "1s", "t": i},
                    time=now - timedelta(seconds=n - i),
                )
                for i in range(n)
            ]
            with store.begin() as conn:
                put_updates(conn, ups)
            took = []
            for _ in range(10 if n > 20_000 else 5):
                t0 = time.perf_counter()
                with store.begin() as conn:
                    prune_updates(conn, utcnow() - timedelta(days=1))
                took.append(time.perf_counter() - t0)
        finally:
            store.dispose()
    return [
        Figure(
            "engine heartbeat: `prune_updates`",
            statistics.median(took) * 1000,
            "ms",
            f"{n:,} rows in `updates` (a day of 1 s candles of one venue is 86,400), none "
            f"prunable; one transaction, median of {len(took)}; the engine runs it once a "
            "minute",
        )
    ]

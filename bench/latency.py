"""Latency part: event in the bus → update on the WebSocket, with real subprocesses.

``btcpulse serve`` and ``btcpulse process`` run as children on a free port; this process
produces paced trades and listens on ``/ws`` for the 1 s candles that count them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common import REPLAY, Figure, Plan, data_dir, fresh_store, percentile, settings_for, wait_for
from probes import Received, Sent, TradeSource, WsListener, engine_times, first_reflecting
from services import Service, cpu_ticks, free_port, ready, start_service

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.config import Settings


@dataclass
class LatencyRun:
    """What one latency session observed (raw); ``latency_figures`` turns it into figures."""

    sent: list[Sent]
    got: list[Received]
    engine_at: dict[int, tuple[float, float]]
    startup_s: float
    other_cpu_pct: float
    our_cpu_pct: float
    updates_seen: int
    stopped: dict[str, tuple[float, bool]]


def produce_paced(source: TradeSource, plan: Plan, pids: list[int]) -> tuple[float, float]:
    """Warm-up then measured trades at ``latency_rate_hz``; return the CPU share (% of all
    cores) used by other processes and by ours while the measured trades were produced."""
    period = 1.0 / plan.latency_rate_hz
    ticks0, t_measure = cpu_ticks(pids), time.perf_counter()
    t0 = time.perf_counter()
    for i in range(plan.latency_warmup + plan.latency_samples):
        if i == plan.latency_warmup:
            ticks0, t_measure = cpu_ticks(pids), time.perf_counter()
        source.send(measured=i >= plan.latency_warmup)
        time.sleep(max(0.0, t0 + (i + 1) * period - time.perf_counter()))
    ticks1, spent_s = cpu_ticks(pids), time.perf_counter() - t_measure
    scale = 100 / os.sysconf("SC_CLK_TCK") / spent_s / (os.cpu_count() or 1)
    ours = ticks1[1] - ticks0[1]
    return max(0.0, (ticks1[0] - ticks0[0] - ours) * scale), ours * scale


@dataclass
class Driven:
    """What :func:`drive` saw: the trades sent, the candles received and the CPU shares."""

    sent: list[Sent]
    got: list[Received]
    updates_seen: int
    startup_s: float
    other_cpu_pct: float
    our_cpu_pct: float


def drive(
    plan: Plan,
    s: Settings,
    port: int,
    services: list[Service],
    t_start: float,
    pids: Callable[[], list[int]],
    startup_timeout_s: float = 60.0,
) -> Driven:
    """Against a started web app on ``port`` and engine: wait until ready, listen on ``/ws``,
    send probe trades until one comes back, then the paced trades; wait for the measured ones.

    ``pids`` (called once the pipeline answers) lists the processes whose CPU counts as ours.
    """
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: ready(base), startup_timeout_s, "`btcpulse serve` to be ready")
    listener = WsListener(f"ws://127.0.0.1:{port}/ws", "bench-latency")
    source: TradeSource | None = None
    try:
        listener.start()
        source = TradeSource(s, listener.venue)
        # the engine is up once a probe trade comes back on the WebSocket
        deadline = time.monotonic() + startup_timeout_s
        while not listener.snapshot():
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {x.name}\n{x.tail()}" for x in services)
                raise RuntimeError(
                    f"no update for a probe trade within {startup_timeout_s:g} s\n{tails}"
                )
            source.send(measured=False)
            time.sleep(0.25)
        startup_s = time.perf_counter() - t_start
        other_pct, ours_pct = produce_paced(source, plan, pids())
        measured = [x for x in source.sent if x.measured]
        ws = listener
        try:
            wait_for(
                lambda: all(first_reflecting(x, ws.snapshot()) for x in measured),
                15,
                "every measured trade on the WebSocket",
            )
        except RuntimeError:
            pass  # reported as missing samples
    finally:
        listener.stop()
        if source is not None:
            source.close()
    return Driven(
        source.sent, listener.snapshot(), listener.updates_seen, startup_s, other_pct, ours_pct
    )


def run_latency(plan: Plan, d: Path) -> LatencyRun:
    """Start ``btcpulse serve`` and ``btcpulse process``, listen on ``/ws``, produce trades."""
    port = free_port()
    s = settings_for(d / "var", port)
    fresh_store(s).dispose()  # migrate once here: the two services would race on it
    EmbeddedLog(s.resolved_bus_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTCPULSE_")}
    env.update(
        BTCPULSE_DATA_DIR=str(s.data_dir),
        BTCPULSE_PORT=str(port),
        BTCPULSE_LIVE_SOURCES="false",
        BTCPULSE_REPLAY_PATH=str(REPLAY),
    )
    services: list[Service] = []
    try:
        services.append(start_service("serve", ["serve"], env, d))
        services.append(start_service("process", ["process"], env, d))
        pids = [x.proc.pid for x in services]
        driven = drive(plan, s, port, services, time.perf_counter(), lambda: pids)
    finally:
        stopped = {svc.name: svc.stop() for svc in reversed(services)}
    return LatencyRun(
        sent=driven.sent,
        got=driven.got,
        engine_at=engine_times(s.resolved_bus_path, s.topic_updates),
        startup_s=driven.startup_s,
        other_cpu_pct=driven.other_cpu_pct,
        our_cpu_pct=driven.our_cpu_pct,
        updates_seen=driven.updates_seen,
        stopped=stopped,
    )


@dataclass(frozen=True)
class Wording:
    """How the figures of one latency setup are named and explained (default: embedded)."""

    label: str = "latency"
    services: str = "serve + process"
    flush: str = "one trade, one SQLite commit on the bus (before the latency clock starts)"
    split: tuple[str, str, str] = (
        "flush() (wall clock) → `AnalyticsUpdate.time` set in `apply_batch` "
        "(engine poll wait + parse); read back from the updates topic by seq",
        "`AnalyticsUpdate.time` → updates-topic `timestamp_ms` (store writes, candles, "
        "commit); 1 ms resolution",
        "updates-topic `timestamp_ms` → received by the client (bus flush, broadcaster "
        "poll wait, fan-out, send)",
    )
    shutdown: str = "shutdown"
    samples_csv: bool = True  # write the plan's samples CSV
    extra: list[Figure] = field(default_factory=list)


EMBEDDED = Wording()


def bench_latency(plan: Plan, tmp: Path) -> list[Figure]:
    """Run one latency session in a fresh data dir and turn it into figures."""
    with data_dir(tmp, "latency") as d:
        run = run_latency(plan, d)
    return latency_figures(plan, run)


def latency_figures(plan: Plan, run: LatencyRun, w: Wording = EMBEDDED) -> list[Figure]:
    """Match each measured trade to its first update; percentiles, parts and shutdown times.

    Also writes the per-trade samples CSV when the plan (and ``w``) asks for it.
    """
    measured = [x for x in run.sent if x.measured]
    lat_ms: list[float] = []
    pickup_ms: list[float] = []
    compute_ms: list[float] = []
    push_ms: list[float] = []
    close_mismatch = 0
    rows = ["bus_wall,latency_ms,bus_to_batch_ms,batch_to_publish_ms,publish_to_ws_ms"]
    for x in measured:
        r = first_reflecting(x, run.got)
        if r is None:
            continue
        lat_ms.append((r.at - x.bus_at) * 1000)
        if r.trades == x.rank and r.close != float(x.trade.price):
            close_mismatch += 1
        if r.seq in run.engine_at:
            batch_clock, published = run.engine_at[r.seq]
            pickup_ms.append((batch_clock - x.bus_wall) * 1000)
            compute_ms.append((published - batch_clock) * 1000)
            push_ms.append((r.wall - published) * 1000)
            rows.append(
                f"{x.bus_wall:.6f},{lat_ms[-1]:.3f},{pickup_ms[-1]:.3f},{compute_ms[-1]:.3f},"
                f"{push_ms[-1]:.3f}"
            )
    if plan.samples_csv is not None and w.samples_csv:
        plan.samples_csv.write_text("\n".join(rows) + "\n")
    if close_mismatch:
        raise RuntimeError(f"{close_mismatch} matched candles do not close at the trade's price")
    if not lat_ms:
        raise RuntimeError("no trade was matched to a WebSocket update")
    flush_ms = [x.flush_s * 1000 for x in measured]
    n, want = len(lat_ms), len(measured)
    how = (
        f"{n} of {want} trades produced one at a time at {plan.latency_rate_hz:g}/s after "
        f"{plan.latency_warmup} warm-up; from flush() returning to the first `/ws` update whose "
        "1s candle counts the trade (`data.trades` ≥ its rank in its second)"
    )
    p = percentile
    lb = w.label
    figs = [
        Figure(f"{lb}: services start → first update", run.startup_s, "s", w.services),
        Figure(
            f"{lb} run: CPU used by other processes",
            run.other_cpu_pct,
            "% of all cores",
            f"/proc/stat busy time minus {w.services} + this client ({run.our_cpu_pct:.0f} %) "
            "while the measured trades were produced; high values inflate p99/max",
        ),
        *w.extra,
        Figure(f"{lb}: samples", n, "trades", how),
        Figure(f"{lb}: bus → WebSocket p50", p(lat_ms, 50), "ms", "as above"),
        Figure(f"{lb}: bus → WebSocket p90", p(lat_ms, 90), "ms", "as above"),
        Figure(f"{lb}: bus → WebSocket p99", p(lat_ms, 99), "ms", "as above"),
        Figure(f"{lb}: bus → WebSocket max", max(lat_ms), "ms", "as above"),
        Figure(f"{lb}: producer produce+flush p50", p(flush_ms, 50), "ms", w.flush),
        Figure(
            f"{lb}: WebSocket updates received",
            run.updates_seen,
            "messages",
            "all kinds/resolutions during the latency run "
            "(8 candle levels per batch, plus the composite)",
        ),
    ]
    parts = (
        ("bus → engine batch", pickup_ms),
        ("engine batch → publish", compute_ms),
        ("publish → WebSocket", push_ms),
    )
    if pickup_ms:
        figs += [
            Figure(f"{lb} part: {part} p50", p(values, 50), "ms", part_how)
            for (part, values), part_how in zip(parts, w.split, strict=True)
        ]
        figs += [
            Figure(f"{lb} part: {part} p99 / max", p(values, 99), "ms", f"max {max(values):.1f} ms")
            for part, values in parts
        ]
    for name, (secs, exited) in run.stopped.items():
        figs.append(
            Figure(
                f"{w.shutdown}: `btcpulse {name}` after SIGTERM",
                secs,
                "s",
                "exited cleanly"
                if exited
                else "**did not exit**: SIGKILLed after the 3 s grace (the WebSocket client had "
                "already disconnected)",
            )
        )
    return figs

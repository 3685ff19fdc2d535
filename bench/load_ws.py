"""Load part: N WebSocket clients on ``btcpulse up --no-live`` while the replay runs at 10x.

``btcpulse up --no-live`` (supervisor, engine, replay, web app) runs in a fresh data dir with
``BTCPULSE_REPLAY_SPEED=10``. Once the replay's history is through the engine, N clients
(``btcpulse.testing.ws_load``: each follows ``/ws`` as the dashboard does, catching up through
``/api/v1/updates?since=SEQ`` after any reconnect) stay connected for D seconds. Measured: push
latency per update per client, the ``serve`` child's resident memory every 2 s (trend), and
completeness of every client against the updates topic.

    .venv/bin/python bench/run.py --only load_ws                      # 500 clients, 600 s
    .venv/bin/python bench/run.py --only load_ws --clients 100 --seconds 60
    .venv/bin/python bench/load_ws.py --merge-into bench/RESULTS.md   # + its RESULTS.md section
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import REPLAY, Figure, Plan, data_dir, settings_for, wait_for
from procs import classify, cpu_s
from report import command_line, machine
from services import cpu_ticks, free_port, ready, start_service

from btcpulse.testing.ws_load import LoadPlan, LoadRun, run_load_sync, wait_settled
from btcpulse.testing.ws_load_check import (
    LoadReport,
    RssSampler,
    Trend,
    analyse,
    find_child,
    published_updates,
)

BEGIN, END = "<!-- load_ws:begin -->", "<!-- load_ws:end -->"


@dataclass
class Config:
    """The run's size (``bench/run.py --clients/--seconds``; ``--quick``: 100 x 60 s)."""

    clients: int | None = None
    seconds: float | None = None
    procs: int = 1  # client processes
    churn_every: int = 0  # every n-th client drops its socket now and then (0: none)
    speed: float = 10.0  # BTCPULSE_REPLAY_SPEED

    def size(self, plan: Plan) -> tuple[int, float]:
        """(clients, seconds) for ``plan``."""
        quick = plan.runs == 1
        return self.clients or (100 if quick else 500), self.seconds or (60.0 if quick else 600.0)


CONFIG = Config()


def configure(
    clients: int | None, seconds: float | None, procs: int | None = None, churn_every: int = 0
) -> None:
    """Set the run's size from the command line (None: the default for the plan)."""
    CONFIG.clients, CONFIG.seconds = clients, seconds
    CONFIG.procs, CONFIG.churn_every = procs or CONFIG.procs, churn_every


def run_clients(plan: LoadPlan, procs: int) -> LoadRun:
    """All clients in this process, or split over ``procs`` client processes."""
    if procs <= 1:
        return run_load_sync(plan)
    share = -(-plan.clients // procs)
    plans = [
        dataclasses.replace(plan, clients=min(share, plan.clients - start), first_client=start)
        for start in range(0, plan.clients, share)
    ]
    with ProcessPoolExecutor(len(plans), mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = list(pool.map(run_load_sync, plans))
    return LoadRun(
        [g for r in runs for g in r.logs],
        max(r.connect_s for r in runs),
        max(r.wall_s for r in runs),
        sum(r.cpu_s for r in runs),
        [x for r in runs for x in r.loop_lag_ms],
        all(r.drained for r in runs),
    )


@dataclass
class Session:
    """What one load session observed, besides the clients' own logs."""

    run: LoadRun
    report: LoadReport
    rss: Trend
    rss_pids: int
    rss_idle_mb: float  # before the clients connected
    serve_cpu_pct: float  # of one core, over the clients' run
    tree_cpu_pct: float  # the whole `btcpulse up` tree, % of one core
    other_cpu_pct: float  # the rest of the machine, % of all cores
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    startup_s: float


def load_session(d: Path, clients: int, seconds: float, procs: int, speed: float) -> Session:
    """Start ``btcpulse up --no-live`` in ``d``, let the history settle, run the clients."""
    port = free_port()
    s = settings_for(d / "var", port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTCPULSE_")}
    env.update(
        BTCPULSE_DATA_DIR=str(s.data_dir),
        BTCPULSE_PORT=str(port),
        BTCPULSE_LIVE_SOURCES="false",
        BTCPULSE_REPLAY_PATH=str(REPLAY),
        BTCPULSE_REPLAY_SPEED=f"{speed:g}",
    )
    base = f"http://127.0.0.1:{port}"
    load_before = os.getloadavg()
    t0 = time.monotonic()
    up = start_service("up", ["up", "--no-live"], env, d)
    sampler = RssSampler(up.proc.pid).start()
    try:
        wait_for(lambda: ready(base), 300, "`btcpulse up` to be ready")
        wait_settled(base)
        startup_s = time.monotonic() - t0
        serve = find_child(up.proc.pid, ("btcpulse", "serve"))
        tree = [p for pids in classify({"up": up.proc.pid}).values() for p in pids]
        serve0, tree0, ticks0 = cpu_s([serve or 0]), cpu_s(tree), cpu_ticks([])[0]
        t_run = time.monotonic()
        plan = LoadPlan(
            f"ws://127.0.0.1:{port}/ws", base, clients, seconds, churn_every=CONFIG.churn_every
        )
        run = run_clients(plan, procs)
        span = time.monotonic() - t_run
        serve_pct = (cpu_s([serve or 0]) - serve0) / span * 100
        tree_s = cpu_s(tree) - tree0
        busy_s = (cpu_ticks([])[0] - ticks0) / os.sysconf("SC_CLK_TCK")
        other = max(0.0, busy_s - tree_s - run.cpu_s) / span / (os.cpu_count() or 1) * 100
        t_end = time.monotonic()
    finally:
        sampler.stop()
        up.stop(grace_s=30)
    load_after = os.getloadavg()
    report = analyse(
        run.logs, published_updates(s.resolved_bus_path, s.topic_updates, s.resolved_store_url)
    )
    return Session(
        run,
        report,
        Trend.of(sampler.between(t_run + run.connect_s + 5, t_end)),
        len(sampler.pids),
        ([mb for at, mb in sampler.samples if at <= t_run] or [0.0])[-1],
        serve_pct,
        tree_s / span * 100,
        other,
        load_before,
        load_after,
        startup_s,
    )


def bench_load_ws(plan: Plan, tmp: Path) -> list[Figure]:
    """Run one load session (size from :data:`CONFIG`) and turn it into figures."""
    clients, seconds = CONFIG.size(plan)
    with data_dir(tmp, "load_ws") as d:
        x = load_session(d, clients, seconds, CONFIG.procs, CONFIG.speed)
    return figures(x, clients, seconds)


def figures(x: Session, clients: int, seconds: float) -> list[Figure]:
    """The rows of the results table."""
    r, run, m = x.report, x.run, x.rss
    lb = f"load_ws ({clients} clients, {seconds:g} s)"
    lag = np.array(run.loop_lag_ms or [0.0])
    how = (
        f"{clients} `/ws` clients in {CONFIG.procs} asyncio process(es) (websockets 17, "
        "permessage-deflate as browsers), each from its own 127.1.x.y address, on `btcpulse up "
        f"--no-live` with the replay at {CONFIG.speed:g}x, connected after its history was "
        f"through the engine ({x.startup_s:.0f} s after start)"
    )
    push = (
        "receipt (`time.time()` in the client) - the updates-topic timestamp of the seq (the "
        "engine's publish, right after its store commit; 1 ms resolution), every pushed update "
        f"x every client ({r.samples:,} samples)"
    )
    catch = ", ".join(f"{k} x{v}" for k, v in sorted(r.close_reasons.items())) or "none"
    return [
        Figure(f"{lb}: clients", clients, "clients", how),
        Figure(
            f"{lb}: all connected", run.connect_s, "s", "50 connecting at a time, hello + catch-up"
        ),
        Figure(
            f"{lb}: updates published during the run",
            r.updates_published,
            "updates",
            "seqs on the updates topic after the first client's hello",
        ),
        Figure(f"{lb}: push latency p50", r.push_ms.get("p50", -1), "ms", push),
        Figure(f"{lb}: push latency p95", r.push_ms.get("p95", -1), "ms", "as above"),
        Figure(f"{lb}: push latency p99", r.push_ms.get("p99", -1), "ms", "as above"),
        Figure(f"{lb}: push latency max", r.push_ms.get("max", -1), "ms", "as above"),
        Figure(
            f"{lb}: push latency p99, worst minute",
            max(r.p99_by_minute, default=-1),
            "ms",
            "p99 per clock minute of publish time: "
            + ", ".join(f"{v:.0f}" for v in r.p99_by_minute),
        ),
        Figure(
            f"{lb}: engine batch → client p50 / p99",
            r.batch_ms.get("p50", -1),
            "ms",
            f"from `AnalyticsUpdate.time` (engine batch clock); p99 "
            f"{r.batch_ms.get('p99', -1):.0f} ms",
        ),
        Figure(
            f"{lb}: missed updates after catch-up",
            r.misses,
            "updates",
            f"{r.expected:,} (client, seq) pairs due (every seq after each client's first "
            f"hello up to the server's last seq at the end): {r.received:,} received, "
            f"{r.superseded:,} superseded by a newer snapshot of the same key, "
            f"{r.clients_missing} clients missing any; {r.unknown} unknown seqs, "
            f"{r.duplicates} duplicates; every client drained: {run.drained}",
        ),
        Figure(
            f"{lb}: disconnects",
            r.disconnects,
            "closes",
            f"not asked for by the client ({catch}); {r.connects:,} connections in all, "
            + (
                f"{r.drops} sockets dropped on purpose (every {CONFIG.churn_every}th client); "
                if CONFIG.churn_every
                else "no churn; "
            )
            + f"{r.caught_up:,} updates caught up via `/api/v1/updates`; {r.reloads} "
            "reloads (pruned)",
        ),
        Figure(
            f"{lb}: `serve` RSS, first minute",
            m.first_mb,
            "MB",
            f"VmRSS of the `serve` child every 2 s ({m.samples} samples over "
            f"{m.minutes:.1f} min from 5 s after the last client connected, {x.rss_pids} "
            f"pid(s)); mean of the first minute; {x.rss_idle_mb:.1f} MB before the clients",
        ),
        Figure(f"{lb}: `serve` RSS, last minute", m.last_mb, "MB", f"max {m.max_mb:.1f} MB"),
        Figure(
            f"{lb}: `serve` RSS trend",
            m.slope_mb_min,
            "MB/min",
            f"least-squares slope over the run; over its second half {m.late_slope_mb_min:.2f} "
            "MB/min; per-minute means " + ", ".join(f"{v:.1f}" for v in m.per_minute),
        ),
        Figure(
            f"{lb}: `serve` CPU",
            x.serve_cpu_pct,
            "% of a core",
            f"utime+stime over the run; whole `btcpulse up` tree {x.tree_cpu_pct:.0f} %",
        ),
        Figure(
            f"{lb}: `serve` CPU per update sent",
            x.serve_cpu_pct / 100 * run.wall_s / max(1, r.samples) * 1e6,
            "µs",
            "`serve` CPU seconds over the run / updates pushed (update x client): the cost of "
            "one send in the fan-out",
        ),
        Figure(
            f"{lb}: client CPU",
            run.cpu_s / run.wall_s * 100,
            "% of a core",
            f"client event-loop lag p99 {np.percentile(lag, 99):.0f} ms, max "
            f"{lag.max():.0f} ms (adds to the latency measured)",
        ),
        Figure(
            f"{lb}: CPU used by other processes",
            x.other_cpu_pct,
            "% of all cores",
            "/proc/stat busy time minus the `up` tree and the clients, over the run",
        ),
        Figure(
            f"{lb}: load average before / after",
            x.load_before[0],
            "1 min",
            "before start: "
            + " / ".join(f"{v:.2f}" for v in x.load_before)
            + "; after stop: "
            + " / ".join(f"{v:.2f}" for v in x.load_after)
            + " (1/5/15 min)",
        ),
    ]


NOTES = [
    "- **Where the push latency goes.** At 10x the replay publishes a recorded minute every 6 s: "
    "one engine batch of about 7 updates (candles at several levels, composite, derived) at "
    "once. `serve` sends each update to each client one after the other in its single event "
    "loop (`web/live.py` `Hub`: a queue and a task per client; uvicorn's websockets protocol "
    "with permessage-deflate per connection), at the CPU cost in the row '`serve` CPU per "
    "update sent'. The last client of a burst of 7 x 500 = 3,500 sends waits about 3,500 times "
    "that, longer when the 2 shared cores are busy with other work (row 'CPU used by other "
    "processes'): the median grows with the number of clients, and the per-minute p99 follows "
    "the machine's load rather than the run's length.",
    "- **What would cut it** (not done here): more web processes, each reading the whole "
    "updates topic (contract 5), to spread the fan-out over cores; in `Hub._send`, no "
    "`asyncio.wait_for` per message (it creates a task per message per client: 17 -> 5 us "
    "per message in isolation); permessage-deflate is about a sixth of a send (its encode: "
    "3.6 of 20.8 s under `Hub._send` in a cProfile of `serve`).",
    "- **Completeness** is judged against the updates topic (every seq ever published, read "
    "back after the run) and the store: each client must have every seq after its first hello, "
    "up to the server's last seq when the run ended, pushed or read back from "
    "`/api/v1/updates` after a reconnect; a seq it has neither way counts as missed unless its "
    "catch-up brought a newer snapshot of the same key (the store keeps only the newest per key, "
    "which is all a catch-up can return) or no client at all was pushed it (the server's own gap "
    "fill from the store skipped it).",
]


def merge_section(path: Path, figs: list[Figure], took: float) -> None:
    """Put this part's rows in their own marked section of ``path`` (replacing an older one),
    leaving the rest of the report as it was."""
    info = machine()
    rows = [
        BEGIN,
        "## Load: WebSocket clients during the replay (`load_ws`, run on its own)",
        "",
        f"- Date: {info['date']}; machine: {info['machine']}, {info['cpu']}, {info['cores']} "
        f"cores (shared with other work), {info['ram']} RAM; Python {info['python']}",
        f"- Commit: `{info['commit']}`; command: `{command_line()}`; wall time {took:.0f} s",
        "",
        "| Figure | Value | Unit | How measured |",
        "|---|---:|---|---|",
        *(f"| {f.name} | {f.cell()} | {f.unit} | {f.how} |" for f in figs),
        "",
        *NOTES,
        END,
    ]
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)].rstrip() + "\n" + text[text.index(END) + len(END) :]
    path.write_text(text.rstrip() + "\n\n" + "\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the load part alone; print its figures (and merge them into a report)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--procs", type=int, default=1, help="client processes")
    ap.add_argument("--churn-every", type=int, default=0, help="n: every n-th client drops")
    ap.add_argument("--merge-into", type=Path, default=None, help="e.g. bench/RESULTS.md")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    configure(args.clients, args.seconds, args.procs, args.churn_every)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="btcpulse-load-") as tmp:
        figs = bench_load_ws(Plan.make(False), Path(tmp))
    for f in figs:
        print(f"{f.name}: {f.cell()} {f.unit} — {f.how}", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps([dataclasses.asdict(f) for f in figs], indent=2))
    if args.merge_into is not None:
        merge_section(args.merge_into, figs, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

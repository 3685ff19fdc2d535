"""The report: machine and commit info, the command line, and ``RESULTS.md`` rendering."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from common import ROOT, Figure, Plan


def sh(*cmd: str) -> str:
    """``cmd``'s stdout, run in the repo; empty when it fails."""
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine() -> dict[str, str]:
    """Date, hardware, Python / SQLite versions, commit and load average for the header."""
    cpu = "unknown"
    ram = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    commit = sh("git", "rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = sh("git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "python": platform.python_version(),
        "commit": commit + (" (+ uncommitted changes)" if dirty.strip() else ""),
        "sqlite": sqlite3.sqlite_version,
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def command_line() -> str:
    """How this script was run, with paths relative to the repo where possible."""
    exe = Path(sys.executable)
    try:
        exe_s = str(exe.relative_to(ROOT))
    except ValueError:
        exe_s = str(exe)
    script = Path(sys.argv[0]).resolve()
    try:
        script_s = str(script.relative_to(ROOT))
    except ValueError:
        script_s = str(script)
    return " ".join([exe_s, script_s, *sys.argv[1:]])


def notes(figs: dict[str, Figure], plan: Plan) -> str:
    """The "Notes" section: what the figures mean, quoting some of them."""

    def v(name: str) -> str:
        """A figure's value and unit, or "n/a" when it was not measured."""
        f = figs.get(name)
        return f"{f.cell()} {f.unit}" if f else "n/a"

    bullets = [
        "**What the latency is made of** (p50s; they need not add up exactly): bus → engine "
        f"batch {v('latency part: bus → engine batch p50')}, engine batch → publish "
        f"{v('latency part: engine batch → publish p50')}, publish → WebSocket "
        f"{v('latency part: publish → WebSocket p50')}; end to end "
        f"{v('latency: bus → WebSocket p50')}.",
        "**The engine's fixed cost per batch dominates**, not a poll timeout. A batch holding one "
        "trade still recomputes eight candle levels (1s, 5s, 1m, 5m, 15m, 1h, 4h, 1d) and their "
        "composite in `engines/windows.recompute`; each level is a SQLAlchemy SELECT of its "
        "inputs, a polars group-by on a handful of rows and an upsert (polars' per-call overhead "
        "on tiny frames is ≈ 1-2 ms per `rollup`), ≈ 40-50 ms per batch whatever its size. The "
        "derived analytics (bursts, impact, index, alerts) run at most once a second while busy "
        "and make the p99 tail.",
        "**The two poll hops add ≈ 5-15 ms each.** The engine and the web broadcaster both pull "
        "from the SQLite log and sleep 2 → 4 → 8 → 16 → 20 ms between empty fetches, so each hop "
        "waits up to 20 ms. `engine_poll_timeout_s` (0.25 s) and the broadcaster's 0.5 s timeout "
        "only bound *idle* polls: an arriving event does not wait for them. SQLite commits are "
        "cheap (WAL, `synchronous=NORMAL`): producing and flushing one trade takes "
        f"{v('latency: producer produce+flush p50')}.",
        f"p99/max add WAL checkpoints, CPU contention ({os.cpu_count()} cores shared by the "
        "engine, the web app, "
        "this client and anything else running: see the 'CPU used by other processes' row) "
        "and the engine's heartbeat transaction (health row once a second while busy, "
        "`prune_updates` once a minute), which delays the next batch. With "
        f"{plan.updates_rows:,} rows in `updates` and nothing to prune, `prune_updates` costs "
        f"{v('engine heartbeat: `prune_updates`')} (it goes through the index on "
        "`updates.time`).",
        "Throughput: producer and engine run one after the other in this process, so these are "
        "per-component rates (in `btcpulse up` they are separate, overlapping processes). The "
        "first run in a process includes one-off warm-up (imports, statement compilation). The "
        "engine rate depends on how many windows a batch touches more than on how many events it "
        "holds: sparse trades touch ~one 1 s window each (≈ 10x the updates) and every "
        "contiguous run of windows is read and computed separately.",
    ]
    serve_stop = figs.get("shutdown: `btcpulse serve` after SIGTERM")
    if serve_stop is not None and "did not exit" in serve_stop.how:
        bullets.append(
            "**`btcpulse serve` does not stop on SIGTERM once a WebSocket client has connected**, "
            "even after the client left: uvicorn waits for background tasks forever, and the `/ws` "
            "handler (`Hub.serve`) never calls `receive()`, so it only notices a gone client when "
            "a send fails; with no updates flowing it loops on its 1 s queue timeout for ever. "
            "`btcpulse up` then SIGKILLs it after its 10 s grace."
        )
    return "\n".join(f"- {b}" for b in bullets) + "\n"


def render(figures: list[Figure], info: dict[str, str], cmd: str, plan: Plan, took: float) -> str:
    """The whole ``RESULTS.md``: header, figures table and notes."""
    lines = [
        "# btcpulse benchmark results",
        "",
        f"- Date: {info['date']}",
        f"- Machine: {info['machine']}, {info['cpu']}, {info['cores']} cores, {info['ram']} RAM",
        f"- Python {info['python']}, SQLite {info['sqlite']}",
        f"- Load average (1/5/15 min) when the report was written: {info['load']}",
        f"- Commit: `{info['commit']}`",
        f"- Command: `{cmd}`" + (" (quick smoke run)" if plan.runs == 1 else ""),
        f"- Bench wall time: {took:.0f} s",
        "",
        "| Figure | Value | Unit | How measured |",
        "|---|---:|---|---|",
    ]
    lines += [f"| {f.name} | {f.cell()} | {f.unit} | {f.how} |" for f in figures]
    lines += ["", "## Notes", "", notes({f.name: f for f in figures}, plan)]
    return "\n".join(lines)

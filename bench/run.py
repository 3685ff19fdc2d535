"""btcpulse benchmark: replay and engine throughput, and bus → WebSocket latency.

Everything runs for real (embedded bus, SQLite store, ``btcpulse process`` and ``btcpulse
serve`` subprocesses) in a temporary data directory that is removed afterwards. The distributed
part (``distributed.py``: tansu, PostgreSQL, a Spark cluster; skipped when they are not
installed) measures the same latency, the memory of every process and backfill throughput.

    .venv/bin/python bench/run.py            # full run, rewrites bench/RESULTS.md (~1 min)
    .venv/bin/python bench/run.py --quick    # smoke run (fewer samples), prints the report

``--output PATH`` writes the report elsewhere; ``--json PATH`` also dumps the figures and
``--samples PATH`` the per-trade latency samples (CSV).
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # per-core figures; set before polars loads

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

# ``python bench/run.py`` puts this folder first on sys.path, so the parts import as top-level
# modules (``bench/`` is not a package).
from analytics import bench_candles, bench_enrichment
from common import DEFAULT_OUTPUT, ROOT, Figure, Plan
from distributed import bench_distributed
from latency import bench_latency
from news import bench_news
from prices import bench_prices
from report import command_line, machine, render
from throughput import bench_prune, bench_replay, bench_trades

from btcpulse.logs import configure as configure_logs


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, run every part in a temporary directory, write or print the report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    ap.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"report file (default: {DEFAULT_OUTPUT.relative_to(ROOT)}; --quick prints it)",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    ap.add_argument(
        "--samples", type=Path, default=None, help="also write the latency samples as CSV"
    )
    args = ap.parse_args(argv)
    plan = Plan.make(args.quick, args.samples)
    configure_logs("WARNING")
    output: Path | None = args.output or (None if args.quick else DEFAULT_OUTPUT)

    t0 = time.perf_counter()
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="btcpulse-bench-") as tmp:
        parts = (bench_enrichment, bench_candles, bench_replay, bench_trades, bench_prune)
        for part in (*parts, bench_news, bench_prices, bench_latency, bench_distributed):
            started = time.perf_counter()
            got = part(plan, Path(tmp))
            figures += got
            print(f"{part.__name__}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
            for f in got:
                print(f"  {f.name}: {f.cell()} {f.unit}", file=sys.stderr)
    took = time.perf_counter() - t0
    report = render(figures, machine(), command_line(), plan, took)
    if output is None:
        print(report)
    else:
        output.write_text(report)
        print(f"wrote {output}", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(f) for f in figures], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""btcpulse benchmark: throughput, bus → WebSocket latency, range queries, time to first chart.

Everything runs for real (embedded bus, SQLite store, ``btcpulse process`` and ``btcpulse
serve`` subprocesses) in a temporary data directory that is removed afterwards. The distributed
part (``distributed.py``: tansu, PostgreSQL, a Spark cluster; skipped when they are not
installed) measures the same latency, the memory of every process and backfill throughput.
The range-query and browser parts (``ranges.py``, ``browser.py``) use a year of 1-second
candles generated once into ``bench/out/`` (a few minutes the first time).

    .venv/bin/python bench/run.py            # full run, rewrites bench/RESULTS.md
    .venv/bin/python bench/run.py --quick    # smoke run (fewer samples), prints the report
    .venv/bin/python bench/run.py --only ranges,browser   # some parts, prints the report

``--output PATH`` writes the report elsewhere (``--quick`` and ``--only`` print it otherwise);
``--json PATH`` also dumps the figures and ``--samples PATH`` the per-trade latency samples
(CSV).
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # per-core figures; set before polars loads

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

# ``python bench/run.py`` puts this folder first on sys.path, so the parts import as top-level
# modules (``bench/`` is not a package).
from analytics import bench_candles, bench_enrichment
from browser import bench_browser
from common import DEFAULT_OUTPUT, ROOT, Figure, Plan
from disk import bench_disk
from distributed import bench_distributed
from export import bench_export
from latency import bench_latency
from load_ws import bench_load_ws
from load_ws import configure as configure_load
from news import bench_news
from prices import bench_prices
from ranges import bench_ranges
from ranges_pg import bench_ranges_pg
from report import command_line, machine, render
from throughput import bench_prune, bench_replay, bench_trades

from btcpulse.logs import configure as configure_logs

Part = Callable[[Plan, Path], list[Figure]]
# Every part in report order, by the name ``--only`` takes.
PARTS: dict[str, Part] = {
    "enrichment": bench_enrichment,
    "candles": bench_candles,
    "replay": bench_replay,
    "trades": bench_trades,
    "prune": bench_prune,
    "news": bench_news,
    "prices": bench_prices,
    "latency": bench_latency,
    "ranges": bench_ranges,
    "ranges_pg": bench_ranges_pg,
    "browser": bench_browser,
    "export": bench_export,
    "disk": bench_disk,
    "distributed": bench_distributed,
    "load_ws": bench_load_ws,  # 500 WebSocket clients x 10 min (--clients/--seconds)
}


OPT_IN = {"ranges_pg"}  # loads a year of 1 s candles into a fresh PostgreSQL: ~8 min


def parts_of(only: str | None) -> list[Part]:
    """The parts named in ``only`` (comma-separated; when None every part but the opt-in
    ones), in report order."""
    if only is None:
        return [part for name, part in PARTS.items() if name not in OPT_IN]
    names = {x.strip() for x in only.split(",") if x.strip()}
    unknown = names - PARTS.keys()
    if unknown:
        raise SystemExit(
            f"unknown part(s): {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}"
        )
    return [part for name, part in PARTS.items() if name in names]


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, run every part in a temporary directory, write or print the report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    ap.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"report file (default: {DEFAULT_OUTPUT.relative_to(ROOT)}; "
        "--quick and --only print it)",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    ap.add_argument(
        "--samples", type=Path, default=None, help="also write the latency samples as CSV"
    )
    ap.add_argument(
        "--only",
        default=None,
        metavar="PART,...",
        help=f"run only these parts (comma-separated: {', '.join(PARTS)})",
    )
    ap.add_argument("--clients", type=int, default=None, help="load_ws: clients (500)")
    ap.add_argument("--seconds", type=float, default=None, help="load_ws: run length (600)")
    args = ap.parse_args(argv)
    configure_load(args.clients, args.seconds)
    parts = parts_of(args.only)
    plan = Plan.make(args.quick, args.samples)
    configure_logs("WARNING")
    partial = args.quick or args.only is not None  # never overwrite RESULTS.md with a part
    output: Path | None = args.output or (None if partial else DEFAULT_OUTPUT)

    t0 = time.perf_counter()
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="btcpulse-bench-") as tmp:
        for part in parts:
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

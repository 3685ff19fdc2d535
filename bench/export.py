"""Export part: ``btcpulse export`` of every 1-second candle of the generated year (the store
of ``ranges.py``) to CSV, with the exporting process's resident memory sampled all along.

The export streams batch by batch, so its memory should stay flat: the figures are the peak
and the growth between a quarter of the run and its end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import Figure, Plan
from procs import status_kb
from ranges import VENUE, year_db

from btcpulse.store.db import Store
from btcpulse.timeutil import from_epoch_s

MB = 1024  # kB per MB (VmRSS is in kB)


def bench_export(plan: Plan, tmp: Path) -> list[Figure]:
    db, _ = year_db(plan)
    Store(db.url).migrate()  # a cached store from an older schema: bring it up to date first
    out = tmp / "export.csv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTCPULSE_")}
    env.update(BTCPULSE_DATA_DIR=str(tmp / "export-var"), BTCPULSE_STORE_URL=db.url)
    args = ["export", "candles", "--venue", VENUE, "--resolution", "1s", "-o", str(out)]
    args += ["--from", from_epoch_s(db.first).isoformat(), "--to", from_epoch_s(db.end).isoformat()]
    samples: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "btcpulse", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            kb = status_kb(proc.pid)
            if kb:
                samples.append((time.perf_counter() - t0, kb))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    took = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"btcpulse export failed ({proc.returncode}): {stderr[-2000:]}")
    rows = int(stdout.split("wrote ", 1)[1].split(" rows", 1)[0].replace(",", ""))
    size = out.stat().st_size
    out.unlink()
    peak = max(kb for _, kb in samples)
    quarter = next(kb for t, kb in samples if t >= took / 4)
    last = samples[-1][1]
    what = (
        f"`btcpulse export candles --resolution 1s` of {db.days} days of 1 s candles "
        f"({rows:,} rows, {size / 1e9:.2f} GB of CSV) from the SQLite store of the range bench; "
        f"VmRSS of the process sampled every 0.5 s ({len(samples)} samples)"
    )
    return [
        Figure("export: 1 s candles written", rows / took, "rows/s", f"{what}; {took:.0f} s"),
        Figure("export: peak memory", peak / MB, "MB", what),
        Figure(
            "export: memory growth from 25 % of the run to its end",
            (last - quarter) / MB,
            "MB",
            f"{quarter / MB:.0f} MB at {took / 4:.0f} s, {last / MB:.0f} MB at the end: flat means "
            "constant memory whatever the range",
        ),
    ]

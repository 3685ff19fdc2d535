"""Range-query part: candles over 1 h … all from a year of 1-second data, store and HTTP.

A year (``--quick``: 30 days) of 1-second random-walk candles for one venue, plus every rollup
level computed with the product's own ``rollup``, is generated once into a SQLite store created
by the product's migrations and cached under ``bench/out/`` (keyed by :data:`VERSION` and the
number of days), so re-runs skip the generation. Then ``queries.candles`` is timed in this
process and ``GET /api/v1/candles`` / ``GET /api/v1/venues`` against a real ``btcpulse serve``.
"""

from __future__ import annotations

import json
import os
import queue
import random
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import polars as pl
from common import ROOT, SYMBOL, Figure, Plan, percentile, wait_for
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from services import cpu_ticks, free_port, ready, start_service

from btcpulse.analytics.candles import BAR_SCHEMA, CANDLE_SCHEMA, RESOLUTIONS, rollup
from btcpulse.store import queries
from btcpulse.store.db import Store

VERSION = "ranges-v1"  # bump when the generated data (or how it is generated) changes
OUT = ROOT / "bench" / "out"
VENUE = "bench"
DAY = 86_400
YEAR_DAYS = 365
QUICK_DAYS = 30
GOAL_MS = 30.0
SEED = 20261201
START_PRICE = 40_000.0
# (label, span in seconds; None = "all": no ``from``, the API starts at the first candle)
RANGES: tuple[tuple[str, int | None], ...] = (
    ("1 h", 3600),
    ("1 d", DAY),
    ("30 d", 30 * DAY),
    ("1 y", 365 * DAY),
    ("all", None),
)
T = TypeVar("T")
COLUMNS = list(CANDLE_SCHEMA)
_VALUES = f"({', '.join(COLUMNS)}, replay) VALUES ({', '.join('?' * len(COLUMNS))}, 0)"
# OR REPLACE: a day's coarser windows are rewritten when it gets more seconds (and a top-up
# cut short leaves rows that the next one writes again)
_UPSERT = f"INSERT OR REPLACE INTO candles {_VALUES}"


def is_quick(plan: Plan) -> bool:
    """Whether ``plan`` is the ``--quick`` smoke run (the convention of the other parts)."""
    return plan.runs == 1


@dataclass(frozen=True)
class YearDb:
    """A generated store: where it is, what it holds and what it cost to make."""

    path: Path
    days: int
    first: int  # epoch s of the first candle (midnight UTC)
    end: int  # epoch s just after the last 1 s candle (a minute boundary, "now" when topped up)
    generate_s: float  # the first generation
    topped_up_s: float  # bringing it up to now in this run (0 when generated in this run)
    size_bytes: int
    store_url: str = ""  # another store holding the same data (PostgreSQL)

    @property
    def url(self) -> str:
        return self.store_url or f"sqlite:///{self.path.as_posix()}"

    @property
    def one_second_rows(self) -> int:
        return self.end - self.first  # a candle every second

    @property
    def rows(self) -> int:
        """Candles at every level: every window in [first, end) has one."""
        return sum(-(-(self.end - self.first) // r) for r in RESOLUTIONS)


# -- generation ----------------------------------------------------------------------------------
def walk(rng: np.random.Generator, lo: int, hi: int, price: float) -> pl.DataFrame:
    """1 s random-walk candles over [lo, hi) starting from ``price``."""
    n = hi - lo
    close = price * np.exp(np.cumsum(rng.normal(0.0, 1e-4, n)))  # ~55 % annualised volatility
    open_ = np.concatenate(([price], close[:-1]))
    wiggle = np.abs(rng.normal(0.0, 2e-5, n))
    volume = rng.exponential(0.05, n)
    return pl.DataFrame(
        {
            "venue": [VENUE] * n,
            "symbol": [SYMBOL] * n,
            "resolution_s": pl.Series([1] * n, dtype=pl.Int32),
            "start": np.arange(lo, hi, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * (1 + wiggle),
            "low": np.minimum(open_, close) * (1 - wiggle),
            "close": close,
            "volume": volume,
            "quote_volume": volume * (open_ + close) / 2,
            "trades": (rng.poisson(3.0, n) + 1).astype(np.int64),
        }
    ).select(COLUMNS)


def levels_of(old: pl.DataFrame, new: pl.DataFrame) -> list[pl.DataFrame]:
    """``new`` 1 s candles, then every coarser level of ``old`` (the day's 1 s candles already
    stored) + ``new`` with the product's ``rollup``, each from the one before as the engines
    do (windows from the day's first second: partial ones are rewritten)."""
    no_bars = pl.DataFrame(schema=BAR_SCHEMA)
    level = pl.concat([old, new]) if old.height else new
    out = [new]
    for r in RESOLUTIONS[1:]:
        level = rollup(level, no_bars, r).sort("start")
        out.append(level)
    return out


def days(
    start: int, end: int, seed: int, price: float, old: pl.DataFrame
) -> Iterator[list[pl.DataFrame]]:
    """:func:`levels_of` for each day of [start, end), the walk going on from ``price``."""
    rng = np.random.default_rng([seed, start])
    lo, prior = start, old
    for day in range(start - start % DAY, end, DAY):
        hi = min(day + DAY, end)
        new = walk(rng, lo, hi, price)
        yield levels_of(prior, new)
        price = float(new["close"][-1])
        lo, prior = hi, pl.DataFrame(schema=CANDLE_SCHEMA)


def in_thread(items: Iterator[T]) -> Iterator[T]:
    """``items``, made by a thread a few ahead of the consumer (polars and numpy release the
    GIL, so making the next day overlaps with loading this one)."""
    todo: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=3)

    def make() -> None:
        try:
            for item in items:
                todo.put((True, item))
            todo.put((False, None))
        except BaseException as exc:  # handed to the consumer
            todo.put((False, exc))

    maker = threading.Thread(target=make, name="ranges-generate", daemon=True)
    maker.start()
    while True:
        more, item = todo.get()
        if not more:
            maker.join()
            if item is not None:
                raise item
            return
        yield item


def fill(
    conn: sqlite3.Connection, start: int, end: int, seed: int, on_day: Callable[[], None]
) -> None:
    """Add 1 s candles over [start, end) continuing the stored walk, and (re)write every
    coarser window from the day of ``start`` (sqlite3 ``executemany``, one transaction per
    day)."""
    got = conn.execute(
        "SELECT close FROM candles WHERE venue=? AND symbol=? AND resolution_s=1 AND start<? "
        "ORDER BY start DESC LIMIT 1",
        (VENUE, SYMBOL, start),
    ).fetchone()
    old = pl.DataFrame(
        conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM candles WHERE venue=? AND symbol=? "
            "AND resolution_s=1 AND start>=? AND start<? ORDER BY start",
            (VENUE, SYMBOL, start - start % DAY, start),
        ).fetchall(),
        schema=CANDLE_SCHEMA,
        orient="row",
    )
    price = START_PRICE if got is None else float(got[0])
    for levels in in_thread(days(start, end, seed, price, old)):
        conn.execute("BEGIN")
        for level in levels:
            conn.executemany(_UPSERT, level.rows())
        conn.execute("COMMIT")
        on_day()


@contextmanager
def loading(path: Path, bulk: bool) -> Iterator[sqlite3.Connection]:
    """A raw connection for loading; ``bulk`` (a new store, thrown away if the load fails):
    journal off and no syncs for the load only. No ANALYZE: the product never runs it."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("PRAGMA cache_size=-1000000")
        if bulk:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
        yield conn
        conn.execute("PRAGMA journal_mode=WAL")  # the product's (set on connect anyway)
    finally:
        conn.close()


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeRemainingColumn(),
        transient=True,
    )


def year_db(plan: Plan) -> tuple[YearDb, bool]:
    """The cached store for this plan, generated first when missing, and brought up to now
    (the days since it was made added, as many old days dropped); and whether it was cached.

    The data end "now" so that the dashboard's default view (anchored at the browser's clock)
    and ``GET /api/v1/candles`` without ``to`` see what a live store would hold.
    """
    days = QUICK_DAYS if is_quick(plan) else YEAR_DAYS
    folder = OUT / f"{VERSION}-{days}d"
    meta_path = folder / "meta.json"
    path = folder / "store.db"
    now = int(time.time())
    end = now - now % 60
    first = end - end % DAY - days * DAY
    cached = meta_path.exists() and path.exists()
    if cached:
        meta = json.loads(meta_path.read_text())
        generate_s, old_first, old_end = meta["generate_s"], meta["first"], meta["end"]
    else:
        folder.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        old_first = old_end = first
        generate_s = 0.0
    t0 = time.perf_counter()
    if not cached:
        store = Store(f"sqlite:///{path.as_posix()}")  # the product's schema and indexes
        store.migrate()
        store.dispose()
    if old_end < end:
        start = max(old_end, first)
        with loading(path, bulk=not cached) as conn, progress_bar() as progress:
            what = "adding" if cached else "generating"
            task = progress.add_task(
                f"{what} 1 s candles (+ rollups) up to now",
                total=len(range(start - start % DAY, end, DAY)),
            )
            fill(conn, start, end, SEED, on_day=lambda: progress.advance(task))
            if old_first < first:  # keep `days` days
                conn.execute("BEGIN")
                for r in RESOLUTIONS:
                    conn.execute(
                        "DELETE FROM candles WHERE venue=? AND symbol=? AND resolution_s=? "
                        "AND start<?",
                        (VENUE, SYMBOL, r, first),
                    )
                conn.execute("COMMIT")
    took = time.perf_counter() - t0
    if not cached:
        generate_s = took
    meta = {"days": days, "first": first, "end": end, "generate_s": generate_s}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")  # written last: marks it complete
    db = YearDb(path, days, first, end, generate_s, took if cached else 0.0, path.stat().st_size)
    return db, cached


# -- serving it ----------------------------------------------------------------------------------
@contextmanager
def serve_store(db: YearDb, workdir: Path) -> Iterator[tuple[str, int]]:
    """``btcpulse serve`` on a free port over ``db`` (data dir: ``workdir``); yield its base
    URL and pid."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTCPULSE_")}
    env.update(
        BTCPULSE_DATA_DIR=str(workdir / "var"),
        BTCPULSE_STORE_URL=db.url,
        BTCPULSE_PORT=str(port),
        BTCPULSE_LIVE_SOURCES="false",
    )
    svc = start_service("serve", ["serve"], env, workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for(lambda: ready(base), 60, "`btcpulse serve` to be ready")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{svc.tail()}") from None
        yield base, svc.proc.pid
    finally:
        svc.stop()


# -- measuring -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timed:
    """Latencies of one kind of request, the CPU they cost, and what the last answer held."""

    ms: list[float]
    cpu_ms: float  # mean CPU time per request of the process answering (this one or serve)
    others_pct: float  # CPU used meanwhile by every other process, % of all cores
    resolution: str = ""
    points: int = 0

    def p(self, q: float) -> float:
        return percentile(self.ms, q)


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid``."""
    rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


Window = tuple[int | None, int | None]  # (from, to) epoch s; None: left out


def windows(db: YearDb, span: int | None, n: int, seed: int) -> list[Window]:
    """``n`` random (from, to) pairs: ``to`` within the data (late enough that the whole span
    is inside it when it fits), ``from`` = ``to`` - span; for "all" (None) neither, as the
    dashboard asks."""
    if span is None:
        return [(None, None)] * n
    rng = random.Random(seed)
    lo_end = db.first + span if db.first + span < db.end else db.first + 1
    out: list[Window] = []
    for _ in range(n):
        to = rng.randint(lo_end, db.end)
        out.append((to - span, to))
    return out


def time_calls(
    call: Callable[[int | None, int | None], tuple[str, int]],
    pairs: list[Window],
    server: int | None = None,
) -> Timed:
    """Time ``call(from, to)`` for each pair (after the caller's warm-up); the CPU per call is
    this process's, or that of the ``server`` pid when given."""
    ms: list[float] = []
    res, points = "", 0
    pids = [] if server is None else [server]
    ticks0, cpu0, t_all = cpu_ticks(pids), time.process_time(), time.perf_counter()
    serve0 = cpu_s(server) if server is not None else 0.0
    for lo, hi in pairs:
        t0 = time.perf_counter()
        res, points = call(lo, hi)
        ms.append((time.perf_counter() - t0) * 1000)
    ticks1, took = cpu_ticks(pids), time.perf_counter() - t_all
    spent = cpu_s(server) - serve0 if server is not None else time.process_time() - cpu0
    scale = 100 / os.sysconf("SC_CLK_TCK") / took / (os.cpu_count() or 1)
    others = max(0.0, (ticks1[0] - ticks0[0] - (ticks1[1] - ticks0[1])) * scale)
    return Timed(ms, spent * 1000 / len(pairs), others, res, points)


def store_call(store: Store) -> Callable[[int | None, int | None], tuple[str, int]]:
    """What ``get_candles`` asks the store (a connection from the pool, ``first_candle`` when
    there is no ``from``, then ``candles``), without HTTP and JSON."""

    def call(lo: int | None, hi: int | None) -> tuple[str, int]:
        end = int(time.time()) if hi is None else hi
        with store.read() as conn:
            start = queries.first_candle(conn, VENUE, SYMBOL) if lo is None else lo
            assert start is not None
            res, df = queries.candles(conn, VENUE, SYMBOL, start, end + 1)
        return queries.resolution_name(res), df.height

    return call


class HttpCandles:
    """``GET /api/v1/candles`` over a :data:`Window`, the body read (JSON parsed only by
    :meth:`shape`, outside the timings)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def get(self, lo: int | None, hi: int | None) -> httpx.Response:
        params = {"venue": VENUE, "symbol": SYMBOL}
        if hi is not None:
            params["to"] = iso(hi)
        if lo is not None:
            params["from"] = iso(lo)
        r = self.client.get("/api/v1/candles", params=params)
        r.raise_for_status()
        return r

    def __call__(self, lo: int | None, hi: int | None) -> tuple[str, int]:
        self.get(lo, hi)
        return "", 0

    def shape(self, lo: int | None, hi: int | None) -> tuple[str, int]:
        """The resolution and number of candles of one answer (parsed, not timed)."""
        body = self.get(lo, hi).json()
        return str(body["resolution"]), len(body["candles"])


def measure(plan: Plan, db: YearDb, workdir: Path) -> dict[str, dict[str, Timed]]:
    """Per range: the store query and the HTTP request timed; plus ``/api/v1/venues``."""
    n = 50 if is_quick(plan) else 200
    warm = 10 if is_quick(plan) else 20
    got: dict[str, dict[str, Timed]] = {"store": {}, "http": {}}
    store = Store(db.url)
    try:
        scall = store_call(store)
        for i, (label, span) in enumerate(RANGES):
            pairs = windows(db, span, warm + n, seed=i)
            time_calls(scall, pairs[:warm])
            got["store"][label] = time_calls(scall, pairs[warm:])
    finally:
        store.dispose()
    with serve_store(db, workdir) as (base, pid), httpx.Client(base_url=base) as client:
        hcall = HttpCandles(client)
        for i, (label, span) in enumerate(RANGES):
            pairs = windows(db, span, warm + n, seed=100 + i)
            time_calls(hcall, pairs[:warm])
            timed = time_calls(hcall, pairs[warm:], pid)
            res, points = hcall.shape(*pairs[-1])
            got["http"][label] = replace(timed, resolution=res, points=points)

        def venues(_lo: int | None, _hi: int | None) -> tuple[str, int]:
            r = client.get("/api/v1/venues")
            r.raise_for_status()
            return "", 0

        time_calls(venues, [(None, None)] * warm)
        timed = time_calls(venues, [(None, None)] * n, pid)
        count = len(client.get("/api/v1/venues").json()["venues"])
        got["http"]["venues"] = replace(timed, points=count)
    return got


def read_through(path: Path) -> float:
    """Read the file once (it lands in the OS page cache); return the seconds it took."""
    t0 = time.perf_counter()
    with path.open("rb") as f:
        while f.read(16 << 20):
            pass
    return time.perf_counter() - t0


def bench_ranges(plan: Plan, tmp: Path) -> list[Figure]:
    """Generate (or reuse) the data set, then time the range queries: store and HTTP."""
    db, cached = year_db(plan)
    warm_s = read_through(db.path)
    got = measure(plan, db, tmp / "ranges")
    data = (
        f"{db.days} days of 1 s random-walk candles up to now, one venue, and every rollup "
        f"level ({'/'.join(str(r) for r in RESOLUTIONS[1:])} s, the product's `rollup`), in a "
        f"SQLite store made by the migrations; cached in `{db.path.relative_to(ROOT)}`"
    )
    reused = (
        f"; this run reused the cached store ({db.topped_up_s:.1f} s to add the data since "
        "it was made)"
        if cached
        else ""
    )
    figs = [
        Figure("ranges: candles stored", db.rows, "rows", f"{data}; {db.one_second_rows:,} 1 s"),
        Figure(
            "ranges: data set generation",
            db.generate_s,
            "s",
            "migrations, then per day a numpy random walk + `rollup` (in a thread) and sqlite3 "
            f"`executemany` in one transaction (journal off for the load only){reused}",
        ),
        Figure(
            "ranges: store size",
            db.size_bytes / 1e6,
            "MB",
            f"the SQLite file; read through once before timing ({warm_s:.1f} s), so that it sits "
            "in the OS page cache as a long-running server's store does (the random ranges over "
            "a year otherwise time the disk, not the queries)",
        ),
    ]
    return figs + range_figures(got, "ranges")


def range_figures(got: dict[str, dict[str, Timed]], tag: str) -> list[Figure]:
    """The other processes' CPU use meanwhile, then the p50/p95 rows of every range (store
    and HTTP) and of ``/api/v1/venues``."""
    timed = [*got["store"].values(), *got["http"].values()]
    figs = [
        Figure(
            f"{tag} run: CPU used by other processes",
            statistics.mean(x.others_pct for x in timed),
            "% of all cores",
            "/proc/stat busy time minus this client and `btcpulse serve`, mean over the timed "
            f"requests (max {max(x.others_pct for x in timed):.0f} %); high values inflate p95",
        )
    ]
    kinds = (
        ("store", "`queries.candles` in this process (+ `first_candle` for all)", "this process"),
        (
            "http",
            "`GET /api/v1/candles` to a real `btcpulse serve`, httpx keep-alive, body read",
            "serve",
        ),
    )
    for label, _span in RANGES:
        for kind, what, who in kinds:
            t = got[kind][label]
            asked = (
                "no `from` and no `to` (as the dashboard's all)"
                if label == "all"
                else f"random `to` within the data, `from` = `to` - {label}"
            )
            how = (
                f"{what}; {len(t.ms)} requests after warm-up, {asked}; answers {t.resolution} "
                f"candles, {t.points:,} points; CPU {t.cpu_ms:.1f} ms per request ({who})"
            )
            goal = f"; goal ≤ {GOAL_MS:g} ms" + (" (missed)" if t.p(95) > GOAL_MS else "")
            figs += [
                Figure(f"{tag} {kind}: {label} p50", t.p(50), "ms", how),
                Figure(f"{tag} {kind}: {label} p95", t.p(95), "ms", "as above" + goal),
            ]
    v = got["http"]["venues"]
    how = (
        f"`GET /api/v1/venues`, {len(v.ms)} requests after warm-up ({v.points} venue); "
        f"CPU {v.cpu_ms:.1f} ms per request (serve)"
    )
    figs += [
        Figure(f"{tag} http: venues p50", v.p(50), "ms", how),
        Figure(f"{tag} http: venues p95", v.p(95), "ms", "as above"),
    ]
    return figs

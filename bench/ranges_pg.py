"""Range-query part on PostgreSQL: the figures of ``ranges.py`` with the store in a throw-away
PostgreSQL cluster (skipped when the binaries are not installed).

The same generator (random walk + the product's ``rollup``) fills a database made by the
migrations with ``COPY``; the cluster lives for this run only, so the load is part of every
run (a few minutes for a year).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import polars as pl
from common import Figure, Plan
from ranges import (
    COLUMNS,
    DAY,
    SEED,
    START_PRICE,
    VENUE,
    YearDb,
    days,
    in_thread,
    measure,
    progress_bar,
    range_figures,
    year_db,
)
from sqlalchemy.engine import make_url

from btcpulse.analytics.candles import CANDLE_SCHEMA
from btcpulse.store.db import Store

_COPY = f"COPY candles ({', '.join(COLUMNS)}, replay) FROM STDIN (FORMAT csv)"


def load(url: str, first: int, end: int) -> float:
    """Migrate the database at ``url`` and ``COPY`` the data in, one transaction per day; then
    VACUUM ANALYZE (what autovacuum does on a live store). Return the seconds it took."""
    import psycopg

    t0 = time.perf_counter()
    store = Store(url)
    store.migrate()
    store.dispose()
    u = make_url(url)
    conninfo = f"host={u.host} port={u.port} user={u.username} dbname={u.database}"
    with psycopg.connect(conninfo) as conn, progress_bar() as progress:
        # bulk-load practice: the primary key (the table's only index) dropped for the load and
        # built again after it, exactly as the migrations defined it
        name, definition = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'candles'::regclass AND contype = 'p'"
        ).fetchone() or ("", "")
        conn.execute(f'ALTER TABLE candles DROP CONSTRAINT "{name}"')
        task = progress.add_task("loading PostgreSQL", total=-(-(end - first) // DAY))
        empty = pl.DataFrame(schema=CANDLE_SCHEMA)
        for levels in in_thread(days(first, end, SEED, START_PRICE, empty)):
            with conn.cursor() as cur, cur.copy(_COPY) as copy:
                for level in levels:
                    csv = level.with_columns(pl.lit("f").alias("replay")).write_csv(
                        include_header=False
                    )
                    copy.write(csv.encode())
            conn.commit()
            progress.advance(task)
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(f'ALTER TABLE candles ADD CONSTRAINT "{name}" {definition}')
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE candles")
    return time.perf_counter() - t0


def bench_ranges_pg(plan: Plan, tmp: Path) -> list[Figure]:
    """Load the range data set into a fresh PostgreSQL, then the figures of ``ranges``."""
    from btcpulse.testing.services import pg_bindir, start_postgres

    if pg_bindir() is None:
        print("bench_ranges_pg: skipped: PostgreSQL is not installed", file=sys.stderr)
        return []
    sqlite_db, _cached = year_db(plan)  # the period: the SQLite store's
    # a folder of its own under /tmp: as root, PostgreSQL runs as `postgres`, which cannot
    # enter the bench's private temporary directory
    pg_root = Path(tempfile.mkdtemp(prefix="btcpulse-bench-pg-"))
    pg = None
    try:
        pg = start_postgres(pg_root)
        url = pg.new_database("ranges")
        took = load(url, sqlite_db.first, sqlite_db.end)
        db: YearDb = replace(sqlite_db, store_url=url)
        got = measure(plan, db, tmp / "ranges-pg")
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(pg_root, ignore_errors=True)
    load_fig = Figure(
        "ranges pg: data set load",
        took,
        "s",
        f"the same {db.days} days (venue `{VENUE}`, {db.rows:,} candles) made again by the "
        "generator, `COPY` one transaction per day into a database made by the migrations "
        "(its primary key dropped for the load and added again after), then `VACUUM ANALYZE "
        "candles`; PostgreSQL "
        f"{pg_version()} (fsync off, default buffers), a throw-away cluster",
    )
    return [load_fig, *range_figures(got, "ranges pg")]


def pg_version() -> str:
    """The server's major version, from the binaries' folder (``/usr/lib/postgresql/N``)."""
    from btcpulse.testing.services import pg_bindir

    bindir = pg_bindir()
    return bindir.parent.name if bindir is not None else "?"

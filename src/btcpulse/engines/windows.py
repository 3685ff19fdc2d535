"""Windowed candles for the embedded engine: rewrite every touched window as a full value.

For each (venue, symbol), the touched windows of each stored resolution are recomputed from
their inputs read back from the store: raw trades for 1 s, then each level from the level
below (and venue bars where a level has no finer candles). Replaying a batch rewrites the
same rows with the same values. The composite of each rewritten window (live venues of one
symbol; quotes are never mixed) is rewritten too, with its flags in ``composite_flags``: the
flags of a window are those known when it was last rewritten (a venue's late trades for an
earlier window do not revisit the later windows' "stale" flags).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta

import polars as pl
from sqlalchemy import Connection, and_, func, select

from btcpulse.analytics.candles import (
    BAR_SCHEMA,
    CANDLE_SCHEMA,
    RESOLUTIONS,
    TRADE_SCHEMA,
    candles_from_trades,
    contiguous_ranges,
    level_for_interval,
    previous_level,
    rollup,
)
from btcpulse.analytics.market import composite
from btcpulse.store import schema as t
from btcpulse.store.upsert import upsert
from btcpulse.store.writes import put_candles
from btcpulse.timeutil import from_epoch_s

Series = tuple[str, str]  # (venue, symbol)
COMPOSITE = "composite"
FORGET_AFTER_S = 3600
"""A venue silent for longer is no longer flagged stale in the composite (health shows it)."""
PRIOR_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {"venue": pl.String, "start": pl.Int64}
FLAGGED_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    **CANDLE_SCHEMA,
    "venues": pl.Int32,
    "flags": pl.List(pl.String),
}


def _read_trades(conn: Connection, s: Series, lo: int, hi: int) -> pl.DataFrame:
    c = t.trades.c
    rows = conn.execute(
        select(c.exchange, c.symbol, c.trade_id, c.price, c.size, c.time).where(
            and_(
                c.exchange == s[0],
                c.symbol == s[1],
                c.time >= from_epoch_s(lo),
                c.time < from_epoch_s(hi),
            )
        )
    ).all()
    epoch = from_epoch_s(0)
    return pl.DataFrame(
        [(r[0], r[1], r[2], r[3], r[4], (r[5] - epoch) // timedelta(microseconds=1)) for r in rows],
        schema=TRADE_SCHEMA,
        orient="row",
    )


def _read_candles(conn: Connection, s: Series, res: int, lo: int, hi: int) -> pl.DataFrame:
    c = t.candles.c
    cols = [getattr(c, name) for name in CANDLE_SCHEMA]
    rows = conn.execute(
        select(*cols).where(
            and_(
                c.venue == s[0],
                c.symbol == s[1],
                c.resolution_s == res,
                c.start >= lo,
                c.start < hi,
            )
        )
    ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=CANDLE_SCHEMA, orient="row")


def _read_bars(conn: Connection, s: Series, res: int, lo: int, hi: int) -> pl.DataFrame:
    prev = previous_level(res) or 0
    c = t.bars.c
    cols = [getattr(c, name) for name in BAR_SCHEMA]
    rows = conn.execute(
        select(*cols).where(
            and_(
                c.venue == s[0],
                c.symbol == s[1],
                c.interval_s > prev,
                c.interval_s <= res,
                c.open_s >= lo,
                c.open_s < hi,
            )
        )
    ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=BAR_SCHEMA, orient="row")


def _has_bars(conn: Connection, s: Series) -> bool:
    c = t.bars.c
    found = conn.execute(
        select(c.open_s).where(and_(c.venue == s[0], c.symbol == s[1])).limit(1)
    ).first()
    return found is not None


def recompute(
    conn: Connection,
    trade_times: dict[Series, list[int]],
    bar_times: dict[Series, dict[int, list[int]]],
) -> pl.DataFrame:
    """Rewrite every window touched by new trades (epoch seconds per series) or bars
    (open seconds per series and interval). Returns the rewritten candles, all levels."""
    out: list[pl.DataFrame] = []
    for series in set(trade_times) | set(bar_times):
        has_bars = series in bar_times or _has_bars(conn, series)
        touched: dict[int, set[int]] = defaultdict(set)
        for ts in trade_times.get(series, []):
            touched[RESOLUTIONS[0]].add(ts - ts % RESOLUTIONS[0])
        for interval, opens in bar_times.get(series, {}).items():
            level = level_for_interval(interval)
            touched[level].update(o - o % level for o in opens)
        carried: set[int] = set()
        for res in RESOLUTIONS:
            windows = touched[res] | {w - w % res for w in carried}
            if not windows:
                continue
            parts = []
            for lo, hi in contiguous_ranges(sorted(windows), res):
                prev = previous_level(res)
                if prev is None:
                    candles = candles_from_trades(_read_trades(conn, series, lo, hi), res)
                else:
                    bars = (
                        _read_bars(conn, series, res, lo, hi)
                        if has_bars
                        else pl.DataFrame(schema=BAR_SCHEMA)
                    )
                    candles = rollup(_read_candles(conn, series, prev, lo, hi), bars, res)
                parts.append(candles.filter(pl.col("start").is_in(sorted(windows))))
            level_df = pl.concat(parts) if parts else pl.DataFrame(schema=CANDLE_SCHEMA)
            put_candles(conn, level_df)
            out.append(level_df)
            carried = set(windows)
    changed = pl.concat(out) if out else pl.DataFrame(schema=CANDLE_SCHEMA)
    return pl.concat([changed, _composites(conn, changed)], how="diagonal")


def _prior(conn: Connection, symbol: str, res: int, lo: int) -> pl.DataFrame:
    """Each live venue's last candle start before ``lo`` (within the flags' horizon)."""
    c = t.candles.c
    rows = conn.execute(
        select(c.venue, func.max(c.start))
        .where(
            and_(
                c.symbol == symbol,
                c.resolution_s == res,
                c.replay.is_(False),
                c.venue != COMPOSITE,
                c.start < lo,
                c.start >= lo - max(FORGET_AFTER_S, 2 * res),
            )
        )
        .group_by(c.venue)
    ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=PRIOR_SCHEMA, orient="row")


def _composites(conn: Connection, changed: pl.DataFrame) -> pl.DataFrame:
    """Rewrite the composite candle (all live venues of a symbol) of every changed window, and
    its flags (venues left out as outliers, missing or stale: ``analytics.market.composite``).
    Returns the composite candles with ``venues`` and ``flags`` columns."""
    live = changed.filter(~pl.col("venue").str.starts_with("replay:"))
    if live.is_empty():
        return pl.DataFrame(schema=FLAGGED_SCHEMA)
    parts = []
    keys = live.select("symbol", "resolution_s", "start").unique()
    for (symbol, res), group in keys.group_by(["symbol", "resolution_s"]):
        starts = sorted(group["start"].to_list())
        c = t.candles.c
        cols = [getattr(c, name) for name in CANDLE_SCHEMA]
        rows = conn.execute(
            select(*cols).where(
                and_(
                    c.symbol == symbol,
                    c.resolution_s == res,
                    c.replay.is_(False),
                    c.venue != COMPOSITE,
                    c.start.in_(starts),
                )
            )
        ).all()
        venues = pl.DataFrame([tuple(r) for r in rows], schema=CANDLE_SCHEMA, orient="row")
        prior = _prior(conn, str(symbol), int(res), starts[0])
        names = set(venues["venue"].to_list()) | set(prior["venue"].to_list())
        if len(names) == 1:  # one live venue: the composite is its copy
            parts.append(
                venues.with_columns(
                    pl.lit(COMPOSITE).alias("venue"),
                    pl.lit(1, dtype=pl.Int32).alias("venues"),
                    pl.lit([], dtype=pl.List(pl.String)).alias("flags"),
                )
            )
        else:
            comp = composite(venues, prior=prior, forget_after_s=FORGET_AFTER_S)
            parts.append(comp.select(list(FLAGGED_SCHEMA)))
    result = pl.concat(parts, how="vertical_relaxed").cast(FLAGGED_SCHEMA)  # type: ignore[arg-type]
    put_candles(conn, result.select(list(CANDLE_SCHEMA)))
    upsert(
        conn,
        t.composite_flags,
        [
            {
                "symbol": r["symbol"],
                "resolution_s": r["resolution_s"],
                "start": r["start"],
                "venues": r["venues"],
                "flags": json.dumps(r["flags"]),
            }
            for r in result.select("symbol", "resolution_s", "start", "venues", "flags").to_dicts()
        ],
    )
    return result

"""OHLCV candles: from trades, from venue bars, and rolled up to coarser resolutions.

Every function returns *full* window values computed from all of a window's inputs, so the
engines can rewrite a window whenever any of its inputs changes (late data included).
"""

from __future__ import annotations

import polars as pl

# The stored resolutions, finest first. Each level is rolled up from the one before it.
RESOLUTIONS: tuple[int, ...] = (1, 5, 60, 300, 900, 3600, 14400, 86400)
RESOLUTION_NAMES = {
    1: "1s",
    5: "5s",
    60: "1m",
    300: "5m",
    900: "15m",
    3600: "1h",
    14400: "4h",
    86400: "1d",
}

CANDLE_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    "venue": pl.String,
    "symbol": pl.String,
    "resolution_s": pl.Int32,
    "start": pl.Int64,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
    "quote_volume": pl.Float64,
    "trades": pl.Int64,
}
TRADE_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    "venue": pl.String,
    "symbol": pl.String,
    "trade_id": pl.String,
    "price": pl.Float64,
    "size": pl.Float64,
    "time_us": pl.Int64,
}
BAR_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    "venue": pl.String,
    "symbol": pl.String,
    "interval_s": pl.Int32,
    "open_s": pl.Int64,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
}

_KEYS = ["venue", "symbol", "start"]


def vwap(quote_volume: float, volume: float) -> float | None:
    """Volume-weighted average price of a window (None without volume)."""
    return quote_volume / volume if volume > 0 else None


def level_for_interval(interval_s: int) -> int:
    """The stored resolution a venue bar of ``interval_s`` feeds (the smallest that holds it)."""
    for r in RESOLUTIONS:
        if r >= interval_s and r % interval_s == 0:
            return r
    raise ValueError(f"no stored resolution holds {interval_s}s bars")


def previous_level(resolution_s: int) -> int | None:
    i = RESOLUTIONS.index(resolution_s)
    return RESOLUTIONS[i - 1] if i else None


def empty_candles() -> pl.DataFrame:
    return pl.DataFrame(schema=CANDLE_SCHEMA)


def _finish(df: pl.DataFrame, resolution_s: int) -> pl.DataFrame:
    return df.with_columns(pl.lit(resolution_s, dtype=pl.Int32).alias("resolution_s")).select(
        list(CANDLE_SCHEMA)
    )


def candles_from_trades(trades: pl.DataFrame, resolution_s: int) -> pl.DataFrame:
    """Trades (``TRADE_SCHEMA``) → one candle per window with at least one trade."""
    if trades.is_empty():
        return empty_candles()
    width_us = resolution_s * 1_000_000
    df = trades.sort(["time_us", "trade_id"]).with_columns(
        ((pl.col("time_us") // width_us) * resolution_s).alias("start")
    )
    out = df.group_by(_KEYS, maintain_order=True).agg(
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("size").sum().alias("volume"),
        (pl.col("price") * pl.col("size")).sum().alias("quote_volume"),
        pl.len().cast(pl.Int64).alias("trades"),
    )
    return _finish(out.sort(_KEYS), resolution_s)


def window_start(ts_s: pl.Expr, resolution_s: int) -> pl.Expr:
    return (ts_s // resolution_s) * resolution_s


def rollup(finer: pl.DataFrame, bars: pl.DataFrame, resolution_s: int) -> pl.DataFrame:
    """Candles at ``resolution_s`` from finer candles and/or venue bars.

    In a window where finer candles exist they are used and bars are ignored (a venue's own
    trades beat its candles); otherwise the bars whose open time falls in the window are.
    """
    parts = []
    if not finer.is_empty():
        parts.append(
            finer.select(
                "venue",
                "symbol",
                window_start(pl.col("start"), resolution_s).alias("start"),
                pl.col("start").alias("t"),
                "open",
                "high",
                "low",
                "close",
                "volume",
                "quote_volume",
                "trades",
                pl.lit(0).alias("prio"),
            )
        )
    if not bars.is_empty():
        typical = (pl.col("high") + pl.col("low") + pl.col("close")) / 3.0
        parts.append(
            bars.select(
                "venue",
                "symbol",
                window_start(pl.col("open_s"), resolution_s).alias("start"),
                pl.col("open_s").alias("t"),
                "open",
                "high",
                "low",
                "close",
                "volume",
                (typical * pl.col("volume")).alias("quote_volume"),
                pl.lit(0, dtype=pl.Int64).alias("trades"),
                pl.lit(1).alias("prio"),
            )
        )
    if not parts:
        return empty_candles()
    df = pl.concat(parts, how="vertical_relaxed")
    df = df.filter(pl.col("prio") == pl.col("prio").min().over(_KEYS)).sort([*_KEYS, "t"])
    out = df.group_by(_KEYS, maintain_order=True).agg(
        pl.col("open").first(),
        pl.col("high").max(),
        pl.col("low").min(),
        pl.col("close").last(),
        pl.col("volume").sum(),
        pl.col("quote_volume").sum(),
        pl.col("trades").sum().cast(pl.Int64),
    )
    return _finish(out, resolution_s)


def contiguous_ranges(windows: list[int], resolution_s: int) -> list[tuple[int, int]]:
    """Merge sorted window starts into ``[start, end)`` ranges of adjacent windows."""
    ranges: list[tuple[int, int]] = []
    for w in windows:
        if ranges and ranges[-1][1] == w:
            ranges[-1] = (ranges[-1][0], w + resolution_s)
        else:
            ranges.append((w, w + resolution_s))
    return ranges

"""News → price impact: the return of one price series over fixed horizons after each article.

A cross-batch, derived analytic (contract 1). The price at a moment ``t`` is the close of the
last candle that *ended* at or before ``t`` (``start + resolution_s <= t``): the last price
known at ``t``, never one that was still being formed. For an article published at ``t``:

- ``base_price`` = the price at ``t``, null when no candle ended by then, or while the candle
  that ends in ``(t - 60 s, t]`` may still come (no candle ends after ``t - 60 s`` yet);
- ``ret_<h>s`` = price at ``t + h`` / ``base_price`` - 1, null until a candle ending at or
  after ``t + h`` exists (the price at ``t + h`` is not final before then) or when there is no
  base price.

So a later call with more recent candles only fills nulls. It does not rewrite a filled value
unless an older candle changes or arrives into a gap (then the engine recomputes, the stored
row being a full value keyed by article id). Lookups are backward as-of joins of the articles,
sorted by time, on the sorted candle end times.

``impact_by`` summarises the returns per group (topic, source...): the number of articles and,
per horizon, how many returns are known and their mean and median.
"""

from __future__ import annotations

import re

import polars as pl

IMPACT_VERSION = "asof-2025.12-1"
DEFAULT_HORIZONS: tuple[int, ...] = (60, 300, 3600)
CANDLE_S = 60
"""Candle width used when ``candles`` has no ``resolution_s`` column."""
_RET = re.compile(r"^ret_(\d+)s$")


def ret_column(horizon_s: int) -> str:
    return f"ret_{horizon_s}s"


def _width_s(candles: pl.DataFrame) -> int:
    if "resolution_s" in candles.columns and candles["resolution_s"].drop_nulls().len():
        return int(candles["resolution_s"].drop_nulls()[0])
    return CANDLE_S


def _series(candles: pl.DataFrame, width_s: int) -> tuple[pl.Series, pl.Series]:
    """Sorted candle end times (epoch µs) and their closes; one candle per start (the highest
    close when a start repeats, so that the input's order never matters)."""
    df = candles.select(
        ((pl.col("start").cast(pl.Int64) + width_s) * 1_000_000).alias("end"),
        pl.col("close").cast(pl.Float64),
    ).drop_nulls()
    if df.height > 1 and not (df["end"].diff().drop_nulls() > 0).all():
        df = df.sort("end", "close").filter(
            (pl.col("end") != pl.col("end").shift(-1)).fill_null(True)
        )
    return df["end"], df["close"]


def price_impact(
    news: pl.DataFrame,
    candles: pl.DataFrame,
    horizons_s: tuple[int, ...] = DEFAULT_HORIZONS,
) -> pl.DataFrame:
    """``news`` (``id, published_at``) x 1-minute ``candles`` (``start, close[, resolution_s]``)
    of one price series → ``id, base_price, ret_<h>s...``, one row per article, in the order
    of ``news``."""
    width_us = _width_s(candles) * 1_000_000
    ends, closes = _series(candles, width_us // 1_000_000)
    prices = pl.DataFrame({"_end": ends, "_close": closes}).lazy()
    last_end = pl.lit(ends.max(), dtype=pl.Int64)
    df = (
        news.lazy()
        .select(pl.col("id").cast(pl.String), pl.col("published_at").dt.epoch("us").alias("_t"))
        .with_row_index("_i")
        .sort("_t")
    )
    # One as-of lookup per moment (t, then t + h): the articles stay sorted by each of them.
    for name, offset in [("_base", 0)] + [(f"_after{h}", h * 1_000_000) for h in horizons_s]:
        df = df.with_columns((pl.col("_t") + offset).alias("_q").set_sorted()).join_asof(
            prices.rename({"_close": name}), left_on="_q", right_on="_end", strategy="backward"
        )
        df = df.drop("_q", "_end")
    # The candle ending in (t - width, t] is in (or there is none): the base is final.
    base = pl.when((pl.col("_t") < last_end + width_us) & (pl.col("_base") > 0.0)).then(
        pl.col("_base")
    )
    return (
        df.sort("_i")
        .select(
            "id",
            base.alias("base_price"),
            *(
                pl.when(pl.col("_t") + h * 1_000_000 <= last_end)
                .then(pl.col(f"_after{h}") / base - 1.0)
                .alias(ret_column(h))
                for h in horizons_s
            ),
        )
        .collect()
    )


def impact_by(impacts: pl.DataFrame, by: str) -> pl.DataFrame:
    """Returns per group: ``impacts`` (``id, ret_<h>s...`` and the column ``by``; a list column
    such as ``topics`` is exploded) → ``by, n`` and, per horizon, ``n_ret_<h>s`` (known
    returns), ``mean_ret_<h>s`` and ``median_ret_<h>s`` over the known returns only. An article
    counts once per group; rows without a group are left out. Sorted by ``by``."""
    horizons = [c for c in impacts.columns if _RET.match(c)]
    df = impacts.lazy()
    if isinstance(impacts.schema[by], pl.List):
        df = df.explode(by)
    df = df.drop_nulls(by).unique(["id", by], keep="first")
    aggs: list[pl.Expr] = [pl.len().cast(pl.Int64).alias("n")]
    for c in horizons:
        r = pl.col(c).fill_nan(None)
        aggs += [
            r.count().cast(pl.Int64).alias(f"n_{c}"),
            r.mean().alias(f"mean_{c}"),
            r.median().alias(f"median_{c}"),
        ]
    return df.group_by(by).agg(aggs).sort(by).collect()

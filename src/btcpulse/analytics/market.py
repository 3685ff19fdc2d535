"""Market analytics over candles: log returns, realised volatility and a composite price.

**Returns and realised volatility** (``returns_and_volatility``) over the candles of one series
at one resolution ``r`` (seconds):

- ``ret`` is the log return ``ln(close / previous close)``. It is null for the first candle and
  when the previous candle is more than one volatility window (``window · r`` seconds) earlier:
  a return across a shorter gap (minutes without trades) is still the price change over the
  time it spans, a return across a longer one would put more than a window's variance into a
  single term.
- ``realised_vol`` is ``sqrt(Σ ret²)`` over the candles that start in ``(t - window·r, t]``
  (the last ``window`` candles when there are no gaps); null while that window holds fewer than
  two returns. It is the volatility *of the window*, not per candle.
- ``realised_vol_annualised`` scales the window's variance to a year of ``SECONDS_PER_YEAR``
  (crypto trades around the clock): ``realised_vol · sqrt(SECONDS_PER_YEAR / covered_s)``, where
  ``covered_s`` is the time the window's returns span (``window · r`` for a full window without
  gaps). For a full window that is the per-candle RMS return times ``sqrt(SECONDS_PER_YEAR /
  r)``; scaling the window's *sum* by ``sqrt(SECONDS_PER_YEAR / r)`` would overstate it by
  ``sqrt(window)``.

**Composite** (``composite``): one ``venue = "composite"`` candle per window start from the
candles of several venues at one resolution. At a start ``T``:

- the venues *expected* are those with a candle in ``[T - stale_after_s, T]``; a venue silent
  for longer is stale and no longer expected (its outage is the health view's business);
- an expected venue without a candle at ``T`` is left out (missing);
- with three venues or more, a venue whose close deviates from the median close of the venues
  present by more than ``max_deviation`` (relative) is left out (outlier). Should that leave
  nobody (an even split into two camps), no venue is left out as an outlier: there is no
  majority to trust;
- ``close`` and ``open`` are the volume-weighted means of the kept venues' closes and opens
  (equal weights when all their volumes are 0, i.e. below ``MIN_VOLUME``), ``high``/``low``
  the max/min of theirs, ``volume``/``quote_volume``/``trades`` their sums, ``venues`` how
  many were kept and ``excluded`` the sorted names of the expected venues left out;
- ``flags`` says, per window, why each known venue is not in it: ``"<venue>:outlier"`` (present
  but left out), ``"<venue>:missing"`` (expected, no candle), ``"<venue>:stale"`` (no candle for
  more than ``stale_after_s``, but within ``max(forget_after_s, 2·resolution)``: longer silences
  are the health view's business). ``prior`` (``venue``, ``start``: each venue's last candle
  before the input's first start) lets a caller that passes only the windows it rewrites judge
  expected and stale venues on the history it did not pass;
- ``symbol`` is the input's (smallest) symbol: callers pass one instrument. Quotes are not
  mixed: BTC-USD and BTC-USDT are different instruments (USDT and USDC trade away from USD, by
  several percent in March 2023), so each gets its own composite.

Inputs are put in a canonical order first (and duplicate ``(venue, start)`` rows reduced to one,
chosen by value), so the result does not depend on row order, to the last bit.
"""

from __future__ import annotations

import polars as pl

from btcpulse.analytics.candles import CANDLE_SCHEMA

MARKET_VERSION = "market-1"
SECONDS_PER_YEAR = 365.25 * 86_400
COMPOSITE_VENUE = "composite"
MIN_VOLUME = 1e-12
"""A venue's volume below this (far below a satoshi) weighs nothing in the composite."""

RETURNS_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    "start": pl.Int64,
    "ret": pl.Float64,
    "realised_vol": pl.Float64,
    "realised_vol_annualised": pl.Float64,
}
COMPOSITE_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    **CANDLE_SCHEMA,
    "venues": pl.Int32,
    "excluded": pl.List(pl.String),
    "flags": pl.List(pl.String),
}


def closes(candles: pl.DataFrame) -> pl.DataFrame:
    """``start, close`` of one series, sorted, one row per start; rows with a null, NaN or
    non-positive close are dropped."""
    return (
        candles.select(
            pl.col("start").cast(pl.Int64), pl.col("close").cast(pl.Float64).fill_nan(None)
        )
        .drop_nulls()
        .filter(pl.col("close") > 0)
        .unique(subset="start", keep="first")  # one row per start (callers pass one series)
        .sort("start")
    )


def log_returns(candles: pl.DataFrame, max_gap_s: int) -> pl.DataFrame:
    """``start``, ``span_s``, ``ret``: log returns of ``close`` between consecutive candles.

    Candles are sorted by ``start``; rows with a null, NaN or non-positive close are dropped.
    ``ret`` (and ``span_s``, the seconds since the previous candle) is null for the first candle
    and where the previous candle started more than ``max_gap_s`` earlier.
    """
    df = closes(candles)
    span = pl.col("start") - pl.col("start").shift(1)
    ok = span <= max_gap_s
    return df.select(
        "start",
        pl.when(ok).then(span).alias("span_s"),
        pl.when(ok).then((pl.col("close") / pl.col("close").shift(1)).log()).alias("ret"),
    )


def returns_and_volatility(candles: pl.DataFrame, window: int = 60) -> pl.DataFrame:
    """Log returns and realised volatility of one series at one resolution (see module doc)."""
    if window < 1:
        raise ValueError("window must be at least 1 candle")
    if candles.is_empty():
        return pl.DataFrame(schema=RETURNS_SCHEMA)
    resolutions = candles.get_column("resolution_s").drop_nulls().unique()
    if resolutions.len() != 1:
        raise ValueError(f"expected one resolution, got {resolutions.to_list()}")
    res = int(resolutions.item())
    width = window * res
    df = log_returns(candles, max_gap_s=width)
    if df.is_empty():
        return pl.DataFrame(schema=RETURNS_SCHEMA)
    roll = f"{width}i"
    df = df.with_columns(
        (pl.col("ret") ** 2).fill_null(0.0).rolling_sum_by("start", roll).alias("_ss"),
        pl.col("ret").is_not_null().cast(pl.Int64).rolling_sum_by("start", roll).alias("_n"),
        pl.col("span_s").fill_null(0).rolling_sum_by("start", roll).alias("_cov"),
    )
    vol = pl.when(pl.col("_n") >= 2).then(pl.col("_ss").sqrt())
    return df.select(
        "start",
        "ret",
        vol.alias("realised_vol"),
        (vol * (SECONDS_PER_YEAR / pl.col("_cov").cast(pl.Float64)).sqrt()).alias(
            "realised_vol_annualised"
        ),
    ).cast(RETURNS_SCHEMA)  # type: ignore[arg-type]


def composite(
    candles: pl.DataFrame,
    stale_after_s: int = 120,
    max_deviation: float = 0.02,
    *,
    prior: pl.DataFrame | None = None,
    forget_after_s: int = 3600,
) -> pl.DataFrame:
    """One composite candle per window start from several venues' candles (see module doc)."""
    if candles.is_empty():
        return pl.DataFrame(schema=COMPOSITE_SCHEMA)
    resolutions = candles.get_column("resolution_s").drop_nulls().unique()
    if resolutions.len() != 1:
        raise ValueError(f"expected one resolution, got {resolutions.to_list()}")
    res = int(resolutions.item())
    symbol = str(candles.get_column("symbol").drop_nulls().min() or "")
    cols = list(CANDLE_SCHEMA)
    # Canonical order, one row per (venue, start): the result cannot depend on row order.
    df = (
        candles.select(cols)
        .cast(CANDLE_SCHEMA)  # type: ignore[arg-type]
        .with_columns(pl.col("close").fill_nan(None))
        .drop_nulls(["venue", "start", "close"])
        .sort(["start", "venue", *cols[4:]], nulls_last=True)
        .unique(subset=["start", "venue"], keep="first", maintain_order=True)
    )
    # Each known venue's last candle at or before each start (``prior``: history not passed).
    seen = df.select("venue", pl.col("start").alias("seen"))
    if prior is not None and not prior.is_empty():
        seen = pl.concat(
            [seen, prior.select(pl.col("venue").cast(pl.String), pl.col("start").cast(pl.Int64))
             .rename({"start": "seen"})]
        )  # fmt: skip
    starts = df.select(pl.col("start").unique().sort())
    venues = seen.select(pl.col("venue").unique().sort())
    grid = (
        starts.join(venues, how="cross")
        .sort("start")
        .join_asof(
            seen.unique().sort("seen"),
            left_on="start",
            right_on="seen",
            by="venue",
            strategy="backward",
            check_sortedness=False,  # sorted by start (and seen) globally, hence per venue
        )
        .filter(pl.col("seen").is_not_null())
        .with_columns((pl.col("start") - pl.col("seen")).alias("age"))
    )
    # Who is expected at each start: venues with a candle within stale_after_s before it.
    expected = grid.filter(pl.col("age") <= stale_after_s).select("start", "venue")
    # Outliers against the median close of the venues present.
    n_present = pl.len().over("start")
    deviation = (pl.col("close") / pl.col("close").median().over("start") - 1.0).abs()
    df = df.with_columns(((n_present >= 3) & (deviation > max_deviation)).alias("_out"))
    df = df.with_columns(
        (~pl.col("_out") | pl.col("_out").all().over("start")).alias("_keep")
    )  # nobody left → no consensus → keep everyone present
    kept = df.filter("_keep").sort(["start", "venue"])
    # Volume weights (a volume below MIN_VOLUME is none); no volume anywhere → equal weights.
    vol = pl.col("volume").fill_null(0.0)
    vol = pl.when(vol >= MIN_VOLUME).then(vol).otherwise(0.0)
    w = pl.when(vol.sum() > 0.0).then(vol).otherwise(pl.lit(1.0))
    agg = kept.group_by("start", maintain_order=True).agg(
        ((pl.col("open") * w).sum() / w.sum()).alias("open"),
        pl.col("high").max(),
        pl.col("low").min(),
        ((pl.col("close") * w).sum() / w.sum()).alias("close"),
        pl.col("volume").sum(),
        pl.col("quote_volume").sum(),
        pl.col("trades").sum().cast(pl.Int64),
        pl.len().cast(pl.Int32).alias("venues"),
    )
    excluded = (
        expected.join(kept.select("start", "venue"), on=["start", "venue"], how="anti")
        .group_by("start")
        .agg(pl.col("venue").sort().alias("excluded"))
    )
    horizon = max(forget_after_s, 2 * res)
    absent = grid.join(df.select("start", "venue"), on=["start", "venue"], how="anti").filter(
        pl.col("age") <= horizon
    )
    reason = (
        pl.when(pl.col("age") <= stale_after_s).then(pl.lit("missing")).otherwise(pl.lit("stale"))
    )
    flags = (
        pl.concat(
            [
                df.filter(~pl.col("_keep")).select(
                    "start", pl.format("{}:outlier", "venue").alias("flag")
                ),
                absent.select("start", pl.format("{}:{}", "venue", reason).alias("flag")),
            ]
        )
        .group_by("start")
        .agg(pl.col("flag").sort().alias("flags"))
    )
    out = (
        agg.join(excluded, on="start", how="left")
        .join(flags, on="start", how="left")
        .with_columns(
            pl.lit(COMPOSITE_VENUE).alias("venue"),
            pl.lit(symbol).alias("symbol"),
            pl.lit(res).alias("resolution_s"),
            pl.col("excluded").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("flags").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        )
        .sort("start")
    )
    return out.select(list(COMPOSITE_SCHEMA)).cast(COMPOSITE_SCHEMA)  # type: ignore[arg-type]

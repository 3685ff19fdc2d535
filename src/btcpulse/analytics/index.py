"""The btcpulse sentiment index: one number in [0, 100] per time, with its reasons.

A cross-batch, derived analytic (contract 1): ``sentiment_index(news, candles, at)`` computes
the index at each time ``T`` of ``at`` (epoch seconds) from the articles and 1-minute candles
around it. ``W`` is ``window_s`` (default one hour); every window is ``(T - W, T]``. Four
components, each in [0, 100] with 50 meaning "normal / no information":

- **news sentiment** ``sentiment_c = 50 · (1 + m)``, where ``m`` is the recency-weighted mean
  sentiment (clipped to [-1, 1]) of the scored articles published in the window; an article of
  age ``a`` weighs ``0.5 ** (a / (W · HALF_LIFE_FRACTION))`` (it halves every half window).
  50 when the window has no scored article.
- **news volume** ``volume_c = 100 · L(ln((n + 1) / (b + 1)))  =  100 · (n + 1) / (n + b + 2)``,
  ``n`` the articles in the window, ``b`` the mean per window over the ``BASELINE_WINDOWS``
  windows before it, ``L(x) = 1 / (1 + exp(-x))`` the logistic function. Equal to the
  baseline → 50, three times it → about 75; the +1s keep a quiet feed near 50.
- **price momentum** ``momentum_c = 100 · L(r / (MOMENTUM_SCALE · sqrt(W / 3600)))``, ``r`` the
  log return from the price at ``T - W`` to the price at ``T`` (the price at ``x`` is the close
  of the last candle *ending* in ``(x - W, x]``: a minute still open at ``x`` is not used).
  With the default scale a +1 % hour gives 73, +2 % 88, -3 % 5. 50 when either price is unknown.
- **volatility** ``volatility_c = 100 · L(-ln q)  =  100 / (1 + q)``, ``q`` the ratio of the
  realised volatility of the window to its trailing level over ``VOL_LOOKBACK_S`` (24 h, ending
  at ``T``), both as variance per second of the 1-minute log returns
  (``Σ ret² / seconds spanned``) so that a short history is not mistaken for calm. Calm is
  high: half the usual volatility gives 67, twice it 33. 50 with fewer than two returns in the
  window or a flat day.

The index is the weighted mean of the components with ``IndexWeights`` (default sentiment 0.4,
momentum 0.3, volatility 0.2, volume 0.1: the headlines lead, the market confirms; volume says
how much is happening rather than which way, so it weighs least). With no data at all every
component, and so the index, is 50.

The explanation lists, at each ``T``, the up to ``TOP_HEADLINES`` articles with the largest
non-zero ``|contribution|``: an article's share of the sentiment component's distance from 50,
in index points, ``w_s / Σw · 50 · weight_i · s_i / Σ weight``. The contributions of all the
window's articles add up to ``w_s / Σw · (sentiment_c - 50)``.

Inputs: ``news`` must reach back ``(BASELINE_WINDOWS + 1) · W`` before the earliest ``T`` and
``candles`` ``VOL_LOOKBACK_S`` (and ``2 · W``) for full values. Sums run in a fixed order, so
equal inputs give equal outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import polars as pl

from btcpulse.analytics.market import closes, log_returns

INDEX_VERSION = "index-1"
HALF_LIFE_FRACTION = 0.5
BASELINE_WINDOWS = 24
MOMENTUM_SCALE = 0.01
"""Log return over one hour that moves the momentum component from 50 to 100·L(1) ≈ 73."""
VOL_LOOKBACK_S = 86_400
TOP_HEADLINES = 5

INDEX_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    "time": pl.Int64,
    "index": pl.Float64,
    "sentiment_c": pl.Float64,
    "volume_c": pl.Float64,
    "momentum_c": pl.Float64,
    "volatility_c": pl.Float64,
    "n_news": pl.Int64,
}
EXPLANATION_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    "time": pl.Int64,
    "id": pl.String,
    "title": pl.String,
    "contribution": pl.Float64,
}


@dataclass(frozen=True)
class IndexWeights:
    """Relative weights of the components (normalised by their sum)."""

    sentiment: float = 0.4
    volume: float = 0.1
    momentum: float = 0.3
    volatility: float = 0.2

    def __post_init__(self) -> None:
        values = [getattr(self, f.name) for f in fields(self)]
        if any(not math.isfinite(v) or v < 0 for v in values) or sum(values) <= 0:
            raise ValueError("weights must be finite, non-negative and not all zero")

    @property
    def total(self) -> float:
        return self.sentiment + self.volume + self.momentum + self.volatility


DEFAULT_WEIGHTS = IndexWeights()


def _window_counts(sorted_t: pl.Series, lo: pl.Series, hi: pl.Series) -> pl.Series:
    """How many of ``sorted_t`` fall in ``(lo, hi]``, per element."""
    return sorted_t.search_sorted(hi, side="right").cast(pl.Int64) - sorted_t.search_sorted(
        lo, side="right"
    ).cast(pl.Int64)


def _window_sums(sorted_t: pl.Series, values: pl.Series, lo: pl.Series, hi: pl.Series) -> pl.Series:
    """Sum of ``values`` (aligned with ``sorted_t``) over ``(lo, hi]``, per element."""
    prefix = pl.concat([pl.Series([0], dtype=values.dtype), values.cum_sum()])
    return prefix.gather(sorted_t.search_sorted(hi, side="right")) - prefix.gather(
        sorted_t.search_sorted(lo, side="right")
    )


def _sentiment(news: pl.DataFrame, times: pl.Series, window_s: int, share: float) -> pl.DataFrame:
    """Per (time, article) rows with the article's recency weight and index contribution."""
    w_us = window_s * 1_000_000
    t_us = times * 1_000_000
    scored = news.filter(pl.col("sentiment").is_not_null() & pl.col("sentiment").is_not_nan())
    lo = t_us.search_sorted(scored.get_column("t_us"), side="left")
    hi = t_us.search_sorted(scored.get_column("t_us") + w_us, side="left")
    half_life_s = window_s * HALF_LIFE_FRACTION
    pairs = (
        scored.with_columns(pl.int_ranges(lo, hi, dtype=pl.Int64).alias("ti"))
        .explode("ti")
        .drop_nulls("ti")
        .with_columns(pl.lit(t_us).gather(pl.col("ti")).alias("time_us"))
        .with_columns(
            (0.5 ** ((pl.col("time_us") - pl.col("t_us")) / 1e6 / half_life_s)).alias("w"),
            pl.col("sentiment").clip(-1.0, 1.0).alias("s"),
        )
        .sort(["ti", "t_us", "id"])
    )
    sw = pl.col("w").sum().over("ti")
    return pairs.with_columns(
        (pl.col("time_us") // 1_000_000).alias("time"),
        (share * 50.0 * pl.col("w") * pl.col("s") / sw).alias("contribution"),
    ).select("ti", "time", "id", "title", "w", "s", "contribution")


def sentiment_index(
    news: pl.DataFrame,
    candles: pl.DataFrame,
    at: list[int],
    *,
    window_s: int = 3600,
    weights: IndexWeights = DEFAULT_WEIGHTS,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The index at each time of ``at`` and the headlines behind it (see the module doc)."""
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    times = pl.Series("time", sorted({int(t) for t in at}), dtype=pl.Int64)
    if times.is_empty():
        return pl.DataFrame(schema=INDEX_SCHEMA), pl.DataFrame(schema=EXPLANATION_SCHEMA)
    total = weights.total
    share_s = weights.sentiment / total

    # News: one row per id, in event-time order.
    arts = (
        news.select(
            pl.col("id").cast(pl.String),
            pl.col("title").cast(pl.String),
            pl.col("published_at").dt.epoch("us").cast(pl.Int64).alias("t_us"),
            pl.col("sentiment").cast(pl.Float64),
        )
        .drop_nulls(["id", "t_us"])
        .sort(["t_us", "id", "sentiment", "title"], nulls_last=True)
        .unique(subset="id", keep="first", maintain_order=True)
    )
    t_art = arts.get_column("t_us")
    w_us = window_s * 1_000_000
    t_us = times * 1_000_000
    n_news = _window_counts(t_art, t_us - w_us, t_us)
    baseline = (
        _window_counts(t_art, t_us - (BASELINE_WINDOWS + 1) * w_us, t_us - w_us).cast(pl.Float64)
        / BASELINE_WINDOWS
    )
    volume_c = 100.0 * (n_news + 1.0) / (n_news + baseline + 2.0)

    pairs = _sentiment(arts, times, window_s, share_s)
    per_t = pairs.group_by("ti", maintain_order=True).agg(
        ((pl.col("w") * pl.col("s")).sum() / pl.col("w").sum()).alias("m")
    )
    sentiment_c = (
        pl.DataFrame({"ti": pl.int_range(times.len(), eager=True, dtype=pl.Int64)})
        .join(per_t, on="ti", how="left")
        .sort("ti")
        .select((50.0 * (1.0 + pl.col("m"))).fill_null(50.0).clip(0.0, 100.0))
        .to_series()
    )

    # Market: prices for momentum, returns for volatility.
    # A candle's close is known when the candle ends: key every price by its end time, so the
    # index at T never looks at a minute that was still open at T (and does not change when
    # that minute arrives later).
    res = (
        int(candles.get_column("resolution_s")[0])
        if "resolution_s" in candles.columns and candles.height
        else 60
    )
    px = closes(candles).with_columns(pl.col("start") + res)
    frame = pl.DataFrame({"time": times, "t0": times - window_s})

    def price_at(col: str) -> pl.Series:
        return (
            frame.select(pl.col(col).alias("x"))
            .with_row_index("_i")
            .sort("x")
            .join_asof(
                px, left_on="x", right_on="start", strategy="backward", tolerance=window_s - 1
            )
            .sort("_i")
            .get_column("close")
        )

    r = (price_at("time") / price_at("t0")).log()
    scale = MOMENTUM_SCALE * math.sqrt(window_s / 3600)
    momentum_c = (100.0 / (1.0 + (-r / scale).exp())).fill_null(50.0).fill_nan(50.0)

    rets = log_returns(px, max_gap_s=window_s).filter(pl.col("ret").is_not_null())
    starts = rets.get_column("start")
    sq = rets.get_column("ret") ** 2
    span = rets.get_column("span_s").cast(pl.Int64)
    n_w = _window_counts(starts, times - window_s, times)
    v_w = _window_sums(starts, sq, times - window_s, times) / _window_sums(
        starts, span, times - window_s, times
    )
    v_d = _window_sums(starts, sq, times - VOL_LOOKBACK_S, times) / _window_sums(
        starts, span, times - VOL_LOOKBACK_S, times
    )
    vol = pl.DataFrame({"n": n_w, "vw": v_w, "vd": v_d}).select(
        pl.when((pl.col("n") >= 2) & (pl.col("vd") > 0))
        .then(100.0 / (1.0 + (pl.col("vw") / pl.col("vd")).sqrt()))
        .otherwise(50.0)
        .fill_nan(50.0)
        .alias("volatility_c")
    )

    out = pl.DataFrame(
        {
            "time": times,
            "sentiment_c": sentiment_c,
            "volume_c": volume_c,
            "momentum_c": momentum_c,
            "volatility_c": vol.get_column("volatility_c"),
            "n_news": n_news,
        }
    ).with_columns(
        (
            (
                weights.sentiment * pl.col("sentiment_c")
                + weights.volume * pl.col("volume_c")
                + weights.momentum * pl.col("momentum_c")
                + weights.volatility * pl.col("volatility_c")
            )
            / total
        )
        .clip(0.0, 100.0)
        .alias("index")
    )

    explanation = (
        pairs.filter(pl.col("contribution") != 0.0)
        .with_columns(pl.col("contribution").abs().alias("_abs"))
        .sort(["time", "_abs", "id"], descending=[False, True, False])
        .group_by("time", maintain_order=True)
        .head(TOP_HEADLINES)
        .select(list(EXPLANATION_SCHEMA))
    )
    return (
        out.select(list(INDEX_SCHEMA)).cast(INDEX_SCHEMA),  # type: ignore[arg-type]
        explanation.cast(EXPLANATION_SCHEMA),  # type: ignore[arg-type]
    )

"""Trends and bursts: per-topic and per-term article volumes against a trailing baseline.

Two layers (contract 1):

- *windowed*: ``topic_volumes`` and ``term_volumes`` count articles per ``(key, window)`` at one
  resolution. Counts of disjoint sets of articles add up, so the engine merges a batch's
  partial counts into the stored rows by summing them (``merge_volumes``).
- *cross-batch, derived*: ``bursts(volumes, windows, ...)`` scores the touched windows of every
  key against the ``baseline`` windows before each of them:
  ``z = (count - mean) / max(std, min_std)``, where mean and std are the population mean and
  standard deviation of the baseline counts, a missing window counting as 0.

``bursts`` adds up the rows that share a ``(key, start)`` (partial counts of disjoint article
sets), sums integers only and derives each float from two exact integer sums with the same
operations whatever the number of rows, so its result does not depend on the order of the rows,
on how the articles were cut into batches or on which windows are scored together.
``min_std`` keeps a quiet key (all baseline windows equal) from scoring an infinite z; with
the default of 1, a topic seen once an hour for a day and then nine times in one hour has
z = (9 - 1) / 1 = 8.

Bump ``BURSTS_VERSION`` whenever a rule here (tokens, stop words, statistics) changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

BURSTS_VERSION = "z-2025.12-1"
DEFAULT_RESOLUTIONS: tuple[int, ...] = (900, 3600)
DEFAULT_BASELINE = 24
Z_ALERT = 3.0
TERM_PREFIX = "term:"

VOLUME_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    "key": pl.String,
    "start": pl.Int64,
    "resolution_s": pl.Int32,
    "count": pl.Int64,
}
BURST_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    **VOLUME_SCHEMA,
    "mean": pl.Float64,
    "std": pl.Float64,
    "z": pl.Float64,
}

STOPWORDS = frozenset(
    """a about above after again against ahead all also am amid among an and any are aren as at
    back be because been before being below between both but by can cannot could couldn did
    didn do does doesn doing don down during each even ever every few for from further get gets
    got had hadn has hasn have haven having he her here hers herself him himself his how i if in
    into is isn it its itself just let lets like make makes many may me might more most much
    must my myself near new next no nor not now of off on once one only onto or other others our
    ours out over own per said same say says see she should shouldn since so some still such
    than that the their theirs them themselves then there these they this those though through
    thus to too toward towards under until up upon us very via was wasn way we were weren what
    whats when where whether which while who whom whose why will with within without won would
    wouldn yet you your yours
    ai aie aient aies ainsi alors après au aucun aucune aujourd auprès aussi autre autres aux
    avaient avait avant avec avez avoir avons ayant bien ce ceci cela celle celles celui cependant
    ces cet cette ceux chaque chez comme comment dans de depuis des deux doit donc dont du elle
    elles en encore entre est et étaient était été être eu eux fait faire fois font hui ici il
    ils jusqu jusque la le les leur leurs lors lorsque mais même mêmes moins mon ne ni nos notre
    nous on ont or ou où par parce pas pendant peu peut plus pour pourquoi quand que quel quelle
    quelles quels qui sa sans se selon ses si sont sous sur ta tandis te tes toi ton tous tout
    toute toutes très tu un une unes uns vers via vos votre vous""".split()
)
_WORD = r"[\p{L}\p{N}]+"


def empty_volumes() -> pl.DataFrame:
    return pl.DataFrame(schema=VOLUME_SCHEMA)


def _start(time_us: pl.Expr, resolution_s: int) -> pl.Expr:
    return ((time_us // (resolution_s * 1_000_000)) * resolution_s).alias("start")


def _count(pairs: pl.LazyFrame, resolution_s: int) -> pl.DataFrame:
    """``id, key, _t`` (epoch µs) → volumes; an article counts once per key, in the window of
    its earliest time (so a duplicated row changes nothing)."""
    return (
        pairs.drop_nulls()
        .group_by("key", "id")
        .agg(pl.col("_t").min())
        .group_by("key", _start(pl.col("_t"), resolution_s))
        .agg(pl.len().cast(pl.Int64).alias("count"))
        .select("key", "start", pl.lit(resolution_s, dtype=pl.Int32).alias("resolution_s"), "count")
        .sort("key", "start")
        .collect()
    )


def topic_volumes(news: pl.DataFrame, resolution_s: int) -> pl.DataFrame:
    """``id, published_at, topics`` → ``key`` (the topic), ``start``, ``resolution_s``,
    ``count``: one row per ``(topic, window)`` with at least one article."""
    return _volumes(news, pl.col("topics"), resolution_s)


def _volumes(news: pl.DataFrame, keys: pl.Expr, resolution_s: int) -> pl.DataFrame:
    """Volumes of the list of keys each article carries (``keys``, a list expression)."""
    if news.is_empty():
        return empty_volumes()
    pairs = (
        news.lazy()
        .select(
            pl.col("id").cast(pl.String),
            pl.col("published_at").dt.epoch("us").alias("_t"),
            keys.alias("key"),
        )
        .explode("key")
    )
    return _count(pairs, resolution_s)


def title_terms(title: pl.Expr, min_len: int = 3) -> pl.Expr:
    """The distinct terms of each title: lower-cased letter/digit runs of at least ``min_len``
    characters, stop words (English and French) and digits-only tokens removed."""
    words = title.fill_null("").str.to_lowercase().str.extract_all(_WORD)
    keep = (
        (pl.element().str.len_chars() >= min_len)
        & ~pl.element().is_in(list(STOPWORDS))
        & ~pl.element().str.contains(r"^\p{N}+$")
    )
    return words.list.eval(pl.element().filter(keep).unique())


def term_volumes(news: pl.DataFrame, resolution_s: int, min_len: int = 3) -> pl.DataFrame:
    """``id, published_at, title`` → volumes keyed ``"term:<word>"`` (see ``title_terms``);
    an article counts once per term."""
    terms = title_terms(pl.col("title"), min_len).list.eval(pl.lit(TERM_PREFIX) + pl.element())
    return _volumes(news, terms, resolution_s)


def merge_volumes(*parts: pl.DataFrame) -> pl.DataFrame:
    """Volumes of disjoint sets of articles → their total per ``(key, start, resolution_s)``."""
    frames = [p.select(list(VOLUME_SCHEMA)) for p in parts if not p.is_empty()]
    if not frames:
        return empty_volumes()
    return (
        pl.concat(frames, how="vertical_relaxed")
        .group_by("key", "start", "resolution_s")
        .agg(pl.col("count").sum().cast(pl.Int64))
        .select(list(VOLUME_SCHEMA))
        .sort("resolution_s", "key", "start")
    )


def bursts(
    volumes: pl.DataFrame,
    windows: list[int],
    resolution_s: int,
    baseline: int = DEFAULT_BASELINE,
    min_std: float = 1.0,
    *,
    dense: bool = True,
    keys: Sequence[str] = (),
) -> pl.DataFrame:
    """Burst scores of every key of ``volumes`` in each touched window of ``windows``.

    ``volumes``: ``key, start, count`` (and ``resolution_s``: other resolutions are ignored);
    it should reach ``baseline`` windows before the earliest touched one. Rows sharing a
    ``(key, start)`` are added up. Windows are floored to ``resolution_s``.

    → ``key, start, resolution_s, count, mean, std, z``, one row per (key, window), sorted.
    With ``dense=False`` the rows of a key with no article in the window nor in its baseline
    (all zeros) are left out: they are what a missing row means, and there are keys x windows
    of them (thousands of terms x every window of a backfill). Dense rows cover ``keys`` (a
    fixed set, e.g. every topic) besides the keys in ``volumes``: with a fixed set the rows
    do not depend on how much data around the windows was read, so micro-batches and one
    batch over the same input give the same rows.
    """
    if baseline < 1:
        raise ValueError("baseline must be at least one window")
    if not min_std > 0:
        raise ValueError("min_std must be positive")
    targets = sorted({(w // resolution_s) * resolution_s for w in windows})
    if (volumes.is_empty() and not (dense and keys)) or not targets:
        return pl.DataFrame(schema=BURST_SCHEMA)
    vol = volumes.lazy()
    if "resolution_s" in volumes.columns:
        vol = vol.filter(pl.col("resolution_s") == resolution_s)
    lo, hi = targets[0] - baseline * resolution_s, targets[-1]
    counts = (
        vol.select(
            pl.col("key").cast(pl.String),
            pl.col("start").cast(pl.Int64),
            pl.col("count").cast(pl.Int64),
        )
        .filter(pl.col("start").is_between(lo, hi))
        .group_by("key", "start")
        .agg(pl.col("count").sum())
        .collect()
        .lazy()
    )
    # Each count is pushed forward onto the windows whose baseline it belongs to.
    lags = pl.LazyFrame({"_lag": list(range(1, baseline + 1))}, schema={"_lag": pl.Int64})
    sums = (
        counts.join(lags, how="cross")
        .select(
            "key",
            (pl.col("start") + pl.col("_lag") * resolution_s).alias("start"),
            "count",
        )
        .filter(pl.col("start").is_in(targets))
        .group_by("key", "start")
        .agg(
            pl.col("count").sum().alias("_s1"),
            (pl.col("count") * pl.col("count")).sum().alias("_s2"),
        )
        .collect()
        .lazy()
    )
    current = counts.filter(pl.col("start").is_in(targets))
    if dense:
        present = vol.select(pl.col("key").cast(pl.String))
        fixed = pl.LazyFrame({"key": list(keys)}, schema={"key": pl.String})
        rows = (
            pl.concat([present, fixed])
            .unique()
            .join(pl.LazyFrame({"start": targets}, schema={"start": pl.Int64}), how="cross")
        )
    else:
        rows = pl.concat([current.select("key", "start"), sums.select("key", "start")]).unique()
    s1, s2 = pl.col("_s1"), pl.col("_s2")
    # x * (1 / b), never x / b: polars divides a column by a constant as a multiplication by
    # its reciprocal except in a one-row frame, so x / b would depend on the number of rows.
    variance = (s2 * baseline - s1 * s1).cast(pl.Float64) * (1.0 / (baseline * baseline))
    return (
        rows.join(current, on=["key", "start"], how="left")
        .join(sums, on=["key", "start"], how="left")
        .with_columns(pl.col("count", "_s1", "_s2").fill_null(0))
        .with_columns(
            (s1.cast(pl.Float64) * (1.0 / baseline)).alias("mean"),
            variance.clip(lower_bound=0.0).sqrt().alias("std"),
        )
        .with_columns(
            (
                (pl.col("count").cast(pl.Float64) - pl.col("mean"))
                / pl.max_horizontal(pl.col("std"), pl.lit(float(min_std)))
            ).alias("z"),
            pl.lit(resolution_s, dtype=pl.Int32).alias("resolution_s"),
        )
        .select(list(BURST_SCHEMA))
        .sort("key", "start")
        .collect()
    )

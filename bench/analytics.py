"""Analytics throughput on one core: enrichment (sentiment + topics + entities + stories
+ language + relevance, headlines/s) and candles (1 s candles from trades plus every rollup,
trades/s).

Pure functions only (no store, no bus): this is the compute ceiling of the engine. Polars is
held to one thread by ``run.py`` (``POLARS_MAX_THREADS=1``) so the figures are per core.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import polars as pl
from common import ROOT, Figure, Plan

from btcpulse.analytics.candles import (
    BAR_SCHEMA,
    RESOLUTIONS,
    TRADE_SCHEMA,
    candles_from_trades,
    rollup,
)
from btcpulse.analytics.entities import entities_for
from btcpulse.analytics.language import detect_language, headline_text
from btcpulse.analytics.relevance import is_relevant
from btcpulse.analytics.sentiment import SentimentScorer, VaderScorer
from btcpulse.analytics.stories import assign_stories
from btcpulse.analytics.topics import topics_for
from btcpulse.collectors.news.feeds import parse_feed
from btcpulse.timeutil import utcnow

SHARED_NEWS = ROOT.parent / "shared/data/news/crypto_news_plus_2021-10_2022-07.csv"


def _headlines() -> tuple[pl.DataFrame, str]:
    """7,524 real headlines from ../shared, or (without it) the committed feeds, repeated with
    a 30-day shift per copy so that copies never cluster together."""
    if SHARED_NEWS.exists():
        df = pl.read_csv(SHARED_NEWS, columns=["published", "source", "title", "summary"])
        return df.select(
            pl.int_range(pl.len()).cast(pl.String).alias("id"),
            "source",
            pl.col("title").fill_null(""),
            pl.col("summary").fill_null(""),
            pl.col("published")
            .str.to_datetime(time_unit="us", time_zone="UTC")
            .alias("published_at"),
        ), f"{SHARED_NEWS.name} (real headlines)"
    items = []
    for path in [
        *sorted((ROOT / "data/replay").glob("*.xml")),
        *sorted((ROOT / "tests/fixtures").glob("*.xml")),
    ]:
        items += parse_feed(path.read_bytes(), source=path.stem, fetched_at=utcnow())[0]
    rows = []
    for copy in range(max(1, 7_500 // len(items))):
        shift = timedelta(days=30 * copy)
        rows += [
            (f"{copy}:{i.id}", i.source, i.title, i.summary, i.published_at + shift) for i in items
        ]
    df = pl.DataFrame(
        rows,
        schema={
            "id": pl.String,
            "source": pl.String,
            "title": pl.String,
            "summary": pl.String,
            "published_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    return df, f"{len(items)} committed feed headlines repeated {df.height // len(items)}x"


def _scorer() -> tuple[SentimentScorer, str]:
    try:
        from btcpulse.analytics.sentiment_model import LinearSentimentModel
    except ImportError:
        return VaderScorer(), "VADER"
    model = LinearSentimentModel()
    return model, model.version


def _best(fn: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_enrichment(plan: Plan, _tmp: Path) -> list[Figure]:
    news, origin = _headlines()
    scorer, version = _scorer()
    titles = news["title"].to_list()
    none = news.head(0).with_columns(pl.lit("", dtype=pl.String).alias("story_id"))
    stages: dict[str, Callable[[], object]] = {
        f"sentiment ({version})": lambda: scorer.scores(titles),
        "topics": lambda: topics_for(news),
        "entities": lambda: entities_for(news),
        "stories": lambda: assign_stories(none, news),
        "language (title + summary)": lambda: detect_language(
            news.select(headline_text(pl.col("title"), pl.col("summary")))[:, 0]
        ),
        "relevance": lambda: news.select(is_relevant(pl.col("title"), pl.col("summary"))),
    }
    for fn in stages.values():
        fn()  # warm-up
    runs = max(plan.runs, 3)
    seconds = {name: _best(fn, runs) for name, fn in stages.items()}
    n = news.height
    how = f"{n:,} headlines: {origin}; one polars thread; best of {runs}"
    figures = [
        Figure(f"enrichment: {name}", round(n / s), "headlines/s", how)
        for name, s in seconds.items()
    ]
    named = [
        k for k in seconds if k.split(" ")[0] in ("sentiment", "topics", "entities", "stories")
    ]
    figures.append(
        Figure(
            "enrichment: sentiment + topics + entities + stories (the goal's four stages)",
            round(n / sum(seconds[k] for k in named)),
            "headlines/s",
            how + "; the sum of their times; goal ≥ 20,000/s/core",
        )
    )
    figures.append(
        Figure(
            "enrichment: sentiment + topics + entities + stories + language + relevance",
            round(n / sum(seconds.values())),
            "headlines/s",
            how + "; the sum of their times: everything the engine runs per headline",
        )
    )
    return figures


def _trades(n: int) -> pl.DataFrame:
    rng = random.Random(7)
    price, t = 30_000.0, 1_700_000_000_000_000
    rows = []
    for i in range(n):
        price *= 1 + rng.gauss(0, 2e-5)
        t += rng.randint(1, 80_000)  # ~25 trades/s
        rows.append(("v", "BTC-USD", f"{i:09d}", round(price, 2), rng.uniform(1e-4, 0.5), t))
    return pl.DataFrame(rows, schema=TRADE_SCHEMA, orient="row")


def bench_candles(plan: Plan, _tmp: Path) -> list[Figure]:
    n = 1_000_000 if plan.runs > 1 else 100_000
    trades = _trades(n)
    no_bars = pl.DataFrame(schema=BAR_SCHEMA)

    def all_levels() -> None:
        level = candles_from_trades(trades, RESOLUTIONS[0])
        for res in RESOLUTIONS[1:]:
            level = rollup(level, no_bars, res)

    all_levels()
    runs = max(plan.runs, 3)
    took = _best(all_levels, runs)
    span_h = (trades["time_us"].max() - trades["time_us"].min()) / 3.6e9  # type: ignore[operator]
    return [
        Figure(
            "candles: trades → 1 s candles + 7 rollups (pure)",
            round(n / took),
            "trades/s",
            f"{n:,} random-walk trades over {span_h:.1f} h, one venue; `candles_from_trades` then"
            f" `rollup` to every stored level; one polars thread; best of {runs}; "
            "goal ≥ 200,000/s/core",
        )
    ]

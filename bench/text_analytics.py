"""Micro-benchmark: topics + entities + story clustering, headlines/s on one core.

    .venv/bin/python bench/text_analytics.py [--repeat N]

Runs on the 7,524 headlines of ``../shared/data/news/crypto_news_plus_2021-10_2022-07.csv``
(skipped with a message when absent) and prints JSON. Polars is pinned to one thread.
"""

from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"  # before polars is imported: one core

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from btcpulse.analytics.entities import ENTITIES_VERSION, entities_for
from btcpulse.analytics.stories import STORIES_VERSION, assign_stories, story_summary
from btcpulse.analytics.topics import TOPICS_VERSION, topics_for

DATA = Path(__file__).resolve().parents[2] / "shared/data/news/crypto_news_plus_2021-10_2022-07.csv"


def load(path: Path) -> pl.DataFrame:
    df = pl.read_csv(path, columns=["published", "source", "title", "summary", "url"])
    return df.select(
        pl.int_range(pl.len()).cast(pl.String).alias("id"),
        "source",
        pl.col("title").fill_null(""),
        "summary",
        pl.col("published").str.to_datetime(time_unit="us", time_zone="UTC").alias("published_at"),
    )


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if not args.data.exists():
        print(json.dumps({"skipped": f"{args.data} not found"}))
        return 0
    news = load(args.data)
    none = news.head(0).with_columns(pl.lit("", dtype=pl.String).alias("story_id"))
    stages: dict[str, Callable[[], object]] = {
        "topics": lambda: topics_for(news),
        "entities": lambda: entities_for(news),
        "stories": lambda: assign_stories(none, news),
    }
    for fn in stages.values():
        fn()  # warm up
    seconds = {name: best_of(fn, args.repeat) for name, fn in stages.items()}
    total = sum(seconds.values())
    assigned = news.join(assign_stories(none, news), on="id")
    summary = story_summary(assigned)
    report = {
        "headlines": news.height,
        "threads": pl.thread_pool_size(),
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "headlines_per_s": {k: round(news.height / v) for k, v in seconds.items()},
        "together_headlines_per_s": round(news.height / total),
        "stories": summary.height,
        "multi_source_stories": summary.filter(pl.col("source_count") > 1).height,
        "largest_story": summary.select(pl.col("size").max()).item(),
        "versions": [TOPICS_VERSION, ENTITIES_VERSION, STORIES_VERSION],
        "python": sys.version.split()[0],
        "polars": pl.__version__,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

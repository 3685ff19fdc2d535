"""Disk used per day at live rates: an hour of live-shaped input through the real embedded
engine into SQLite, the store's bytes per table and the log's bytes measured, times 24.

Live rates assumed (documented in the figures): BTC-USD trades from four venues at
Coinbase 6/s, Binance 20/s, Kraken 1.5/s and Bitstamp 0.5/s (28 trades/s, about 2.4 M a day),
and 40 articles an hour (about 1,000 a day, the order of the 13 default sources), each with
2 kB of article text. The hour ends now, so every candle level and the derived analytics run
as they do live.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import timedelta
from pathlib import Path

from common import Figure, Plan, data_dir, drain, fresh_store, make_engine, settings_for

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.events import NewsItem, Trade, encode
from btcpulse.timeutil import to_epoch_us, utcnow

RATES = {"coinbase": 6.0, "binance": 20.0, "kraken": 1.5, "bitstamp": 0.5}  # trades/s
ARTICLES_PER_HOUR = 40
BODY = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 36  # ~2 kB of text
MB = 1_048_576


def _hour(seconds: int, seed: int = 11) -> tuple[list[Trade], list[NewsItem]]:
    rng = random.Random(seed)
    end = utcnow()
    start = end - timedelta(seconds=seconds)
    trades: list[Trade] = []
    for venue, rate in RATES.items():
        price = 60_000.0
        for i in range(int(rate * seconds)):
            price = max(1.0, price + rng.gauss(0.0, 3.0))
            at = start + timedelta(seconds=rng.random() * seconds)
            trades.append(
                Trade(
                    exchange=venue,
                    symbol="BTC-USD",
                    trade_id=f"{venue}-{i}",
                    price=f"{price:.2f}",
                    size=f"{rng.expovariate(1 / 0.02):.8f}",
                    side=rng.choice(("buy", "sell")),
                    time=at,
                )
            )
    trades.sort(key=lambda tr: tr.time)
    headlines = [
        r.event for r in load_bundle(Path(__file__).parents[1] / "data" / "replay").records
    ]
    titles = [h.title for h in headlines if isinstance(h, NewsItem)]
    n = ARTICLES_PER_HOUR * seconds // 3600
    news = [
        NewsItem(
            id=f"disk-{i}",
            source=rng.choice(("coindesk", "cointelegraph", "decrypt", "theblock")),
            url=f"https://example.org/article/{i}",
            title=f"{titles[i % len(titles)]} ({i})",
            summary=titles[(i + 7) % len(titles)],
            body=BODY,
            published_at=start + timedelta(seconds=seconds * i / n),
            fetched_at=start + timedelta(seconds=seconds * i / n + 30),
        )
        for i in range(n)
    ]
    return trades, news


def _table_bytes(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT COALESCE(m.tbl_name, d.name), SUM(d.pgsize) FROM dbstat d "
            "LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY 1"
        ).fetchall()
        return {str(name): int(size) for name, size in rows}
    finally:
        conn.close()


def bench_disk(plan: Plan, tmp: Path) -> list[Figure]:
    """Store and log growth of one simulated live hour, scaled to a day."""
    seconds = 3600 if plan.runs > 1 else 600
    scale = 86_400 / seconds
    trades, news = _hour(seconds)
    with data_dir(tmp, "disk") as d:
        s = settings_for(d)
        store = fresh_store(s)
        db_path = Path(store.engine.url.database or "")
        empty = _table_bytes(db_path)
        bus = EmbeddedLog(s.resolved_bus_path)
        p = bus.producer()
        for tr in trades:
            p.produce(
                s.topic_prices,
                encode(tr),
                key=f"{tr.exchange}:{tr.symbol}".encode(),
                timestamp_ms=to_epoch_us(tr.time) // 1000,
            )
        for item in news:
            p.produce(s.topic_news, encode(item), key=item.id.encode())
        p.flush()
        engine = make_engine(s, store, bus)
        engine.start()
        drain(engine)
        engine.consumer.close()
        engine.producer.close()
        p.close()
        store.dispose()
        grown = {k: v - empty.get(k, 0) for k, v in _table_bytes(db_path).items()}
        log_bytes = sum(_table_bytes(s.resolved_bus_path).values())

    def per_day(*tables: str) -> float:
        return sum(grown.get(t, 0) for t in tables) * scale / MB

    kept = (
        *("candles", "composite_flags", "news", "news_tags", "news_stories", "stories"),
        *("enrichments", "index_values", "bursts", "impacts", "alerts", "errors"),
    )
    total = sum(grown.values()) * scale / MB
    how = (
        f"{len(trades):,} trades ({sum(RATES.values()):g}/s from 4 venues: "
        + ", ".join(f"{v} {r:g}/s" for v, r in RATES.items())
        + f") and {len(news)} articles with 2 kB of text ({ARTICLES_PER_HOUR}/h) over "
        f"{seconds // 60} min ending now, through the embedded engine into SQLite; SQLite "
        f"page bytes (dbstat) per table, times {scale:g}"
    )
    return [
        Figure("disk: store growth per day at live rates", total, "MB/day", how),
        Figure(
            "disk: of which kept for good (candles at 8 levels, news, analytics)",
            per_day(*kept),
            "MB/day",
            f"same run; the candles are {per_day('candles', 'composite_flags'):,.0f} MB/day of it",
        ),
        Figure(
            "disk: of which raw trades (retention: 7 days by default)",
            per_day("trades"),
            "MB/day",
            "same run; BTCPULSE_RETENTION_TRADES_DAYS bounds it to 7 days' worth",
        ),
        Figure(
            "disk: of which pushed updates (kept 24 h)",
            per_day("updates"),
            "MB/day",
            "same run; BTCPULSE_UPDATES_KEEP_S bounds it to one day's worth",
        ),
        Figure(
            "disk: embedded log growth per day",
            log_bytes * scale / MB,
            "MB/day",
            "same run: the raw messages on the bus (trades, articles, updates); "
            "BTCPULSE_RETENTION_LOG_DAYS (7) bounds it once consumed",
        ),
    ]

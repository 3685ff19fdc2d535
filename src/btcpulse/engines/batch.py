"""One micro-batch: parse → per-record analytics → windowed candles → keyed updates.

``apply_batch`` runs inside the caller's store transaction; it returns the updates and dead
letters to publish once that transaction has committed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Connection

from btcpulse.analytics.candles import CANDLE_SCHEMA, RESOLUTION_NAMES, vwap
from btcpulse.analytics.sentiment import SentimentScorer
from btcpulse.bus.base import Message
from btcpulse.events import AnalyticsUpdate, Bar, DeadLetter, NewsItem, Trade, parse_event
from btcpulse.store import schema as t
from btcpulse.store.retention import sealed_before
from btcpulse.store.upsert import upsert
from btcpulse.store.writes import put_errors
from btcpulse.timeutil import to_epoch_us, utcnow

from .derived import Touched
from .news import copy_rows, fold, item_of, merge_stored
from .text import cluster_stories, score_and_store, tag_news
from .windows import recompute

# Candle windows older than this get no live push (history loads would flood the browsers);
# the newest window of each series always does.
LIVE_PUSH_HORIZON = timedelta(hours=2)


@dataclass
class BatchOutcome:
    updates: list[AnalyticsUpdate] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    touched: dict[bool, Touched] = field(default_factory=dict)
    """Per world, what the derived analytics must revisit (the engine runs them)."""


def news_payload(
    item: NewsItem, score: float | None, label: str | None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The dashboard's view of an article (the same shape as ``GET /api/v1/news`` items).
    ``score`` None: not scored (a language the model does not know)."""
    return {
        "id": item.id,
        "source": item.source,
        "url": item.url,
        "title": item.title,
        "summary": item.summary,
        "published_at": item.published_at.isoformat(),
        "lang": item.lang,
        "replay": item.replay,
        "author": item.author,
        "time_estimated": item.time_estimated,
        "has_body": bool(item.body),
        "relevant": None,
        "sentiment": score,
        "sentiment_label": label,
        "sentiment_status": sentiment_status(score),
        "topics": [],
        "entities": [],
        "story_id": None,
        "story_sources": None,
        **(extra or {}),
    }


def sentiment_status(score: float | None) -> str:
    """``scored``, or ``not_scored``: the article's language is not one the model knows (its
    ``lang`` says which), so it has no score rather than a guess."""
    return "not_scored" if score is None else "scored"


def candle_payload(row: dict[str, Any]) -> dict[str, Any]:
    res = int(row["resolution_s"])
    return {
        "venue": row["venue"],
        "symbol": row["symbol"],
        "resolution": RESOLUTION_NAMES[res],
        "resolution_s": res,
        "t": int(row["start"]),
        "open": row["open"],
        "high": row["high"],
        "low": row["low"],
        "close": row["close"],
        "volume": row["volume"],
        "vwap": vwap(row["quote_volume"], row["volume"]),
        "trades": int(row["trades"]),
        **(
            {"venues": row["venues"], "flags": row["flags"]}
            if row.get("flags") is not None  # composite windows: who is left out, and why
            else {}
        ),
    }


def _news(
    conn: Connection, items: list[NewsItem], scorer: SentimentScorer
) -> tuple[list[AnalyticsUpdate], list[NewsItem]]:
    """Merge each article's copies with its stored row (see ``news.py``), write the rows,
    enrich them. Returns the updates and the merged articles (plus, for articles whose time
    moved, their previous version: its windows need revisiting too)."""
    if not items:
        return [], []
    rows, moved = merge_stored(conn, fold(copy_rows(items)))
    upsert(conn, t.news, rows)
    unique = [item_of(r) for r in rows]
    by_id = {r["id"]: r for r in rows}
    now = utcnow()
    score_of = score_and_store(conn, unique, scorer, now)
    tags = tag_news(conn, unique)
    stories, story_updates = cluster_stories(conn, unique, now)
    news_updates = [
        AnalyticsUpdate(
            key=f"news:{i.id}",
            kind="news",
            data=news_payload(
                i,
                score_of.get(i.id, (None, None))[0],
                score_of.get(i.id, (None, None))[1],
                {**tags[i.id], **stories.get(i.id, {}), "relevant": by_id[i.id]["relevant"]},
            ),
            time=now,
        )
        for i in unique
    ]
    previous = [i.model_copy(update={"published_at": moved[i.id]}) for i in unique if i.id in moved]
    return news_updates + story_updates, unique + previous


def _prices(
    conn: Connection, trades: list[Trade], bars: list[Bar], now: datetime
) -> tuple[list[AnalyticsUpdate], pl.DataFrame]:
    """Store trades and bars, rewrite their candle windows; return the updates and candles."""
    trade_times: dict[tuple[str, str], list[int]] = defaultdict(list)
    bar_times: dict[tuple[str, str], dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    if trades:
        upsert(
            conn,
            t.trades,
            [
                {
                    "exchange": tr.exchange,
                    "symbol": tr.symbol,
                    "trade_id": tr.trade_id,
                    "price": float(tr.price),
                    "size": float(tr.size),
                    "side": tr.side,
                    "time": tr.time,
                    "replay": tr.exchange.startswith("replay:"),
                }
                for tr in trades
            ],
            do_nothing=True,
        )
        for tr in trades:
            trade_times[(tr.exchange, tr.symbol)].append(to_epoch_us(tr.time) // 1_000_000)
    if bars:
        rows = {}
        for b in bars:
            open_s = to_epoch_us(b.open_time) // 1_000_000
            rows[(b.venue, b.symbol, b.interval_s, open_s)] = {
                "venue": b.venue,
                "symbol": b.symbol,
                "interval_s": b.interval_s,
                "open_s": open_s,
                "open": float(b.open),
                "high": float(b.high),
                "low": float(b.low),
                "close": float(b.close),
                "volume": float(b.volume),
                "replay": b.venue.startswith("replay:"),
            }
            bar_times[(b.venue, b.symbol)][b.interval_s].append(open_s)
        upsert(conn, t.bars, list(rows.values()))
    if not trade_times and not bar_times:
        return [], pl.DataFrame(schema=CANDLE_SCHEMA)
    candles = recompute(conn, trade_times, bar_times)
    horizon = int((now - LIVE_PUSH_HORIZON).timestamp())
    newest = candles.group_by(["venue", "symbol", "resolution_s"]).agg(pl.col("start").max())
    live = candles.join(newest, on=["venue", "symbol", "resolution_s"], suffix="_max").filter(
        (pl.col("start") >= horizon) | (pl.col("start") == pl.col("start_max"))
    )
    out = []
    for row in live.iter_rows(named=True):
        p = candle_payload(row)
        key = f"candle:{p['venue']}:{p['symbol']}:{p['resolution']}:{p['t']}"
        out.append(AnalyticsUpdate(key=key, kind="candle", data=p, time=now))
    return out, candles


def apply_batch(
    conn: Connection, messages: list[Message], scorer: SentimentScorer, dlq_topic: str
) -> BatchOutcome:
    outcome = BatchOutcome()
    news: list[NewsItem] = []
    trades: list[Trade] = []
    bars: list[Bar] = []
    letters: list[DeadLetter] = []
    for m in messages:
        ev = parse_event(m.value, source=f"{m.topic}[{m.partition}]@{m.offset}")
        if isinstance(ev, NewsItem):
            news.append(ev)
        elif isinstance(ev, Trade):
            trades.append(ev)
        elif isinstance(ev, Bar):
            bars.append(ev)
        elif isinstance(ev, DeadLetter):
            letters.append(ev)
            if ev.stage == "parse" and m.topic != dlq_topic:
                outcome.dead_letters.append(ev)
        else:
            bad = DeadLetter(
                stage="engine",
                source=f"{m.topic}[{m.partition}]@{m.offset}",
                reason=f"unexpected event type {ev.type!r} on topic {m.topic!r}",
                payload=m.value.decode("utf-8", errors="replace"),
            )
            letters.append(bad)
            outcome.dead_letters.append(bad)
    now = utcnow()
    trades = _unsealed(conn, trades, letters, outcome)
    news_updates, news = _news(conn, news, scorer)
    outcome.updates.extend(news_updates)
    price_updates, candles = _prices(conn, trades, bars, now)
    outcome.updates.extend(price_updates)
    outcome.touched = _touched(news, candles)
    put_errors(conn, letters)
    return outcome


def _unsealed(
    conn: Connection, trades: list[Trade], letters: list[DeadLetter], outcome: BatchOutcome
) -> list[Trade]:
    """Trades for seconds whose raw trades retention has deleted would rewrite those candles
    from themselves alone: they become dead letters instead (see ``store.retention``)."""
    sealed = sealed_before(conn) if trades else None
    if sealed is None:
        return trades
    kept = []
    for tr in trades:
        if tr.time >= sealed:
            kept.append(tr)
            continue
        bad = DeadLetter(
            stage="engine",
            source=f"{tr.exchange}:{tr.symbol}",
            reason=f"trade {tr.trade_id} at {tr.time.isoformat()} arrived after retention "
            f"sealed the candles before {sealed.isoformat()} (raw trades deleted)",
            payload=tr.model_dump_json(),
        )
        letters.append(bad)
        outcome.dead_letters.append(bad)
    return kept


def _touched(news: list[NewsItem], candles: pl.DataFrame) -> dict[bool, Touched]:
    """Per world (replay or live), the article times and 1 m windows this batch changed."""
    out: dict[bool, Touched] = {}
    for item in news:
        out.setdefault(item.replay, Touched()).news_times.append(
            to_epoch_us(item.published_at) // 1_000_000
        )
    minutes = candles.filter(pl.col("resolution_s") == 60)
    for venue, starts in minutes.group_by("venue").agg(pl.col("start")).iter_rows():
        replay = str(venue).startswith("replay:")
        out.setdefault(replay, Touched()).candle_starts[str(venue)] = sorted(starts)
    return out

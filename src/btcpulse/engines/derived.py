"""Cross-batch, derived analytics for the embedded engine (contract 1, third layer).

After a batch's records and windows are written, each function here reads back the recent
rows it needs from the store, calls a pure ``analytics`` function and overwrites keyed rows:
topic bursts, news → price impact, the 0-100 sentiment index and alerts. Replayed and live
data are kept apart: each world is derived from its own rows only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, delete, func, select

from btcpulse.analytics.alerts import Rule, evaluate
from btcpulse.analytics.bursts import (
    DEFAULT_RESOLUTIONS,
    TERM_PREFIX,
    Z_ALERT,
    bursts,
    term_volumes,
    topic_volumes,
)
from btcpulse.analytics.impact import price_impact
from btcpulse.analytics.index import sentiment_index
from btcpulse.analytics.topics import TOPICS
from btcpulse.events import AnalyticsUpdate
from btcpulse.store import schema as t
from btcpulse.store.upsert import upsert
from btcpulse.timeutil import from_epoch_s

from .text import TAGS_VERSION

BASELINE_WINDOWS = 24
INDEX_WINDOW_S = 3600
IMPACT_HORIZON_S = 3600
LIVE_ALERT_HORIZON_S = 24 * 3600
"""Live alerts are for what is happening: a window older than this (history loaded by a
backfill, a venue's late catch-up) raises none. Replayed history keeps all of its alerts."""


@dataclass
class Touched:
    """What a batch changed in one world (replay or live)."""

    news_times: list[int] = field(default_factory=list)  # epoch s of new articles
    candle_starts: dict[str, list[int]] = field(default_factory=dict)  # venue → 1 m starts

    def merge(self, other: Touched) -> None:
        self.news_times += other.news_times
        for venue, starts in other.candle_starts.items():
            self.candle_starts[venue] = sorted(set(self.candle_starts.get(venue, [])) | set(starts))


def price_series(conn: Connection, replay: bool) -> str | None:
    """The price series a world's impact and index use: the composite if there is one, else
    the venue with the most recent daily candle."""
    c = t.candles.c
    rows = conn.execute(
        select(c.venue, func.max(c.start))
        .where(and_(c.resolution_s == 86400, c.replay == replay, c.symbol == "BTC-USD"))
        .group_by(c.venue)
    ).all()
    if not rows:
        return None
    venues = {str(v): int(s) for v, s in rows}
    if "composite" in venues:
        return "composite"
    return max(venues, key=lambda v: (venues[v], v))


def _news(conn: Connection, replay: bool, lo: int, hi: int, version: str) -> pl.DataFrame:
    n, e, g = t.news.c, t.enrichments.c, t.news_tags.c
    rows = conn.execute(
        select(n.id, n.title, n.source, n.published_at, e.sentiment, g.topics)
        .select_from(
            t.news.outerjoin(
                t.enrichments, and_(e.news_id == n.id, e.model_version == version)
            ).outerjoin(t.news_tags, g.news_id == n.id)
        )
        .where(
            and_(
                n.replay == replay,
                n.published_at >= from_epoch_s(lo),
                n.published_at < from_epoch_s(hi),
            )
        )
    ).all()
    return pl.DataFrame(
        [(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]) if r[5] else []) for r in rows],
        schema={
            "id": pl.String,
            "title": pl.String,
            "source": pl.String,
            "published_at": pl.Datetime("us", "UTC"),
            "sentiment": pl.Float64,
            "topics": pl.List(pl.String),
        },
        orient="row",
    ).unique("id", keep="first")


def _minute_candles(conn: Connection, venue: str, lo: int, hi: int) -> pl.DataFrame:
    c = t.candles.c
    rows = conn.execute(
        select(c.start, c.close)
        .where(and_(c.venue == venue, c.resolution_s == 60, c.start >= lo, c.start < hi))
        .order_by(c.start)
    ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows], schema={"start": pl.Int64, "close": pl.Float64}, orient="row"
    ).with_columns(pl.lit(60, dtype=pl.Int32).alias("resolution_s"))


def _bursts(
    conn: Connection, replay: bool, times: list[int], now_s: int, version: str
) -> pl.DataFrame:
    """Rescore the windows of the new articles and the windows whose baseline they are in:
    every topic, and the title terms that burst (z ≥ ``Z_ALERT``; quiet terms are not kept)."""
    out = []
    for res in DEFAULT_RESOLUTIONS:
        own = {ts - ts % res for ts in times}
        windows = sorted(
            {w + k * res for w in own for k in range(BASELINE_WINDOWS + 1) if w + k * res <= now_s}
            | own
        )
        lo, hi = windows[0] - BASELINE_WINDOWS * res, windows[-1] + res
        news = _news(conn, replay, lo, hi, version)
        topics = bursts(
            topic_volumes(news, res), windows, res, baseline=BASELINE_WINDOWS, keys=TOPICS
        )
        terms = bursts(
            term_volumes(news, res), windows, res, baseline=BASELINE_WINDOWS, dense=False
        ).filter(pl.col("z") >= Z_ALERT)
        rows = pl.concat([topics, terms])
        # A term kept only while it bursts: drop the rescored windows' term rows first, so a
        # term that no longer bursts there (more baseline arrived) leaves no stale row.
        b = t.bursts.c
        conn.execute(
            delete(t.bursts).where(
                and_(
                    b.replay == replay,
                    b.resolution_s == res,
                    b.start.in_(windows),
                    b.key.startswith(TERM_PREFIX),
                )
            )
        )
        upsert(
            conn,
            t.bursts,
            rows.with_columns(
                pl.lit(replay).alias("replay"), pl.lit(TAGS_VERSION).alias("version")
            ).to_dicts(),
        )
        out.append(rows)
    return pl.concat(out) if out else pl.DataFrame()


def derive(
    conn: Connection,
    replay: bool,
    touched: Touched,
    now: datetime,
    version: str,
    rules: tuple[Rule, ...],
) -> list[AnalyticsUpdate]:
    """Rewrite every derived row the batch may have changed in one world."""
    updates: list[AnalyticsUpdate] = []
    series = price_series(conn, replay)
    burst_rows = (
        _bursts(conn, replay, touched.news_times, int(now.timestamp()), version)
        if touched.news_times
        else pl.DataFrame()
    )
    for r in burst_rows.iter_rows(named=True) if burst_rows.height else []:
        key = f"burst:{int(replay)}:{r['key']}:{r['resolution_s']}:{r['start']}"
        updates.append(AnalyticsUpdate(key=key, kind="burst", data=r, time=now))
    if series is None:
        return updates
    minutes = touched.candle_starts.get(series, [])
    # index times: each touched minute (its end) and each new article's minute
    times = sorted({s + 60 for s in minutes} | {ts - ts % 60 + 60 for ts in touched.news_times})
    if not times:
        return updates
    news = _news(conn, replay, times[0] - 25 * INDEX_WINDOW_S, times[-1] + 1, version)
    candles = _minute_candles(conn, series, times[0] - 86400 - INDEX_WINDOW_S, times[-1] + 1)
    updates += _impacts(conn, replay, series, news, candles, times, now)
    # The index reads the articles the model scored: one in a language it does not know
    # (not scored) moves neither the sentiment nor the volume component, nor n_news.
    scored = news.filter(pl.col("sentiment").is_not_null())
    index, drivers = sentiment_index(scored, candles, times, window_s=INDEX_WINDOW_S)
    by_time: dict[int, list[dict[str, Any]]] = {}
    for d in drivers.iter_rows(named=True):
        by_time.setdefault(int(d["time"]), []).append(
            {"id": d["id"], "title": d["title"], "contribution": d["contribution"]}
        )
    rows = [
        {
            "replay": replay,
            "time": int(r["time"]),
            "value": r["index"],
            "sentiment_c": r["sentiment_c"],
            "volume_c": r["volume_c"],
            "momentum_c": r["momentum_c"],
            "volatility_c": r["volatility_c"],
            "n_news": int(r["n_news"]),
            "drivers": json.dumps(by_time.get(int(r["time"]), [])),
            "model_version": version,
        }
        for r in index.iter_rows(named=True)
    ]
    upsert(conn, t.index_values, rows)
    if rows:
        last = rows[-1]
        data = {**last, "drivers": json.loads(last["drivers"]), "series": series}
        updates.append(
            AnalyticsUpdate(key=f"index:{int(replay)}", kind="index", data=data, time=now)
        )
    updates += _alerts(conn, replay, rules, index, burst_rows, candles, now)
    return updates


def _impacts(
    conn: Connection,
    replay: bool,
    series: str,
    news: pl.DataFrame,
    candles: pl.DataFrame,
    times: list[int],
    now: datetime,
) -> list[AnalyticsUpdate]:
    """Impact of every article whose horizon overlaps the touched minutes (late prices fill
    returns that were still open)."""
    lo = from_epoch_s(times[0] - IMPACT_HORIZON_S - 120)
    due = news.filter(pl.col("published_at") >= lo)
    if due.is_empty() or candles.is_empty():
        return []
    res = price_impact(due.select("id", "published_at"), candles)
    upsert(
        conn,
        t.impacts,
        [
            {
                "news_id": r["id"],
                "series": series,
                "base_price": r["base_price"],
                "ret_60s": r["ret_60s"],
                "ret_300s": r["ret_300s"],
                "ret_3600s": r["ret_3600s"],
            }
            for r in res.iter_rows(named=True)
        ],
    )
    return []


def _alerts(
    conn: Connection,
    replay: bool,
    rules: tuple[Rule, ...],
    index: pl.DataFrame,
    burst_rows: pl.DataFrame,
    candles: pl.DataFrame,
    now: datetime,
) -> list[AnalyticsUpdate]:
    found = evaluate(
        rules,
        index.select("time", "index"),
        burst_rows if burst_rows.height else None,
        candles.select("start", "close"),
    )
    if not replay:
        found = found.filter(pl.col("time") >= int(now.timestamp()) - LIVE_ALERT_HORIZON_S)
    if found.is_empty():
        return []
    ids = found["alert_id"].to_list()
    a = t.alerts.c
    known = {
        r.alert_id: r
        for r in conn.execute(
            select(a.alert_id, a.time, a.value, a.message, a.params, a.created_at).where(
                a.alert_id.in_(ids)
            )
        )
    }
    rows = [
        {
            **r,
            "time": int(r["time"]),
            "value": float(r["value"]),
            "replay": replay,
            "created_at": known[r["alert_id"]].created_at if r["alert_id"] in known else now,
        }
        for r in found.select(
            "alert_id", "kind", "rule", "time", "value", "message", "params"
        ).iter_rows(named=True)
    ]
    fresh = [r for r in rows if r["alert_id"] not in known]
    # An alert whose window is still open (a burst still growing, the minute of a price move
    # still trading) keeps its id and takes the window's current value: the stored alert is a
    # full value, as the same data processed at once (a replay, a restart) would store it.
    changed = [
        r
        for r in rows
        if (k := known.get(r["alert_id"])) is not None
        and (k.time, k.value, k.message, k.params)
        != (r["time"], r["value"], r["message"], r["params"])
    ]
    upsert(conn, t.alerts, fresh, do_nothing=True)
    upsert(conn, t.alerts, changed, update=["time", "value", "message", "params"])
    return [
        AnalyticsUpdate(
            key=f"alert:{r['alert_id']}",
            kind="alert",
            data={
                **r,
                "params": json.loads(r["params"]),
                "created_at": r["created_at"].isoformat(),
            },
            time=now,
        )
        for r in fresh + changed
    ]

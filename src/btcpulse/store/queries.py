"""Read queries behind the API: candles at a bounded number of points, news, health, updates."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Connection, Integer, and_, bindparam, cast, func, or_, select

from btcpulse.analytics.candles import (
    BAR_SCHEMA,
    CANDLE_SCHEMA,
    RESOLUTION_NAMES,
    RESOLUTIONS,
    rollup,
)
from btcpulse.store import schema as t
from btcpulse.store.writes import UPDATES_STATE, get_state
from btcpulse.timeutil import from_epoch_s, utcnow

MAX_POINTS = 2000


def choose_resolution(span_s: float, max_points: int = MAX_POINTS) -> int:
    """The finest stored resolution that gives at most ``max_points`` windows over the span."""
    for r in RESOLUTIONS:
        if span_s / r <= max_points:
            return r
    return RESOLUTIONS[-1]


def venues(conn: Connection) -> list[dict[str, Any]]:
    """Every (venue, symbol) with 1-minute candles, with the end of its newest one.

    A GROUP BY would read every candle; this walks the primary key instead, a few index seeks
    per pair (next pair, then its newest 1-minute candle), whatever the history's length.
    """
    c = t.candles.c
    pairs = select(c.venue, c.symbol).order_by(c.venue, c.symbol).limit(1)
    out: list[dict[str, Any]] = []
    pair = conn.execute(pairs).first()
    while pair is not None:
        venue, symbol = pair
        last = conn.execute(
            select(c.start, c.replay)
            .where(and_(c.venue == venue, c.symbol == symbol, c.resolution_s == 60))
            .order_by(c.start.desc())
            .limit(1)
        ).first()
        if last is not None:
            out.append(
                {
                    "venue": venue,
                    "symbol": symbol,
                    "replay": bool(last[1]),  # a venue's candles are all replay or all live
                    "last_time": from_epoch_s(int(last[0]) + 60).isoformat(),
                }
            )
        # the next pair in two seeks: a row-value "(venue, symbol) > pair" scans pair's rows
        pair = (
            conn.execute(pairs.where(and_(c.venue == venue, c.symbol > symbol))).first()
            or conn.execute(pairs.where(c.venue > venue)).first()
        )
    return out


def first_candle(conn: Connection, venue: str, symbol: str) -> int | None:
    c = t.candles.c
    value = conn.execute(
        select(func.min(c.start)).where(
            and_(c.venue == venue, c.symbol == symbol, c.resolution_s == RESOLUTIONS[-1])
        )
    ).scalar_one_or_none()
    return None if value is None else int(value)


_VALUES = ("start", "open", "high", "low", "close", "volume", "quote_volume", "trades")
# Built once (bound parameters): a new select() per call costs more than the rows of a short
# range. Only the value columns: venue, symbol and resolution are known.
_CANDLES_AT = (
    select(*(t.candles.c[name] for name in _VALUES))
    .where(
        and_(
            t.candles.c.venue == bindparam("venue"),
            t.candles.c.symbol == bindparam("symbol"),
            t.candles.c.resolution_s == bindparam("res"),
            t.candles.c.start >= bindparam("lo"),
            t.candles.c.start < bindparam("hi"),
        )
    )
    .order_by(t.candles.c.start)
)


def candles(
    conn: Connection, venue: str, symbol: str, lo: int, hi: int, max_points: int = MAX_POINTS
) -> tuple[int, pl.DataFrame]:
    """Candles over ``[lo, hi)`` epoch seconds: the finest resolution with data that keeps the
    answer within ``max_points`` (coarser where a venue has no finer data)."""
    wanted = choose_resolution(max(hi - lo, 1), max_points)
    rows: list[Any] = []
    # One primary-key range per level, finest first, until one has data: a range on
    # resolution_s (``>= wanted``) would read the finer levels from the venue's first candle.
    for res in (r for r in RESOLUTIONS if r >= wanted):
        params = {"venue": venue, "symbol": symbol, "res": res, "lo": lo - lo % res, "hi": hi}
        rows = list(conn.execute(_CANDLES_AT, params).all())
        if rows:
            break
    if not rows:
        return wanted, pl.DataFrame(schema=CANDLE_SCHEMA)
    df = (
        pl.DataFrame(rows, schema={k: CANDLE_SCHEMA[k] for k in _VALUES}, orient="row")
        .with_columns(
            pl.lit(venue, dtype=pl.String).alias("venue"),
            pl.lit(symbol, dtype=pl.String).alias("symbol"),
            pl.lit(res, dtype=pl.Int32).alias("resolution_s"),
        )
        .select(list(CANDLE_SCHEMA))
    )
    while df.height > max_points:  # spans of more than max_points days: coarser buckets
        res *= 2
        df = rollup(df, pl.DataFrame(schema=BAR_SCHEMA), res).sort("start")
    return res, df


def resolution_name(res: int) -> str:
    return RESOLUTION_NAMES.get(res, f"{res}s")


def news(
    conn: Connection,
    *,
    model_version: str,
    limit: int,
    lo: datetime | None = None,
    hi: datetime | None = None,
    source: str | None = None,
    topic: str | None = None,
    relevant: bool | None = None,
    article_id: str | None = None,
    sentiment: str | None = None,
    text: str | None = None,
    replay: bool | None = None,
) -> list[dict[str, Any]]:
    """Articles newest first, with sentiment, topics, entities and their story (``relevant``:
    only those about Bitcoin, or only those not; ``article_id``: that one article;
    ``sentiment``: that label; ``text``: words found in the title or summary, any case;
    ``replay``: only replayed articles, or only live ones)."""
    n, e, g = t.news.c, t.enrichments.c, t.news_tags.c
    ns, st = t.news_stories.c, t.stories.c
    q = (
        select(
            n.id,
            n.source,
            n.url,
            n.title,
            n.summary,
            n.published_at,
            n.lang,
            n.replay,
            n.author,
            n.time_estimated,
            n.relevant,
            (func.length(n.body) > 0).label("has_body"),
            e.sentiment,
            e.sentiment_label,
            g.topics,
            g.entities,
            ns.story_id,
            st.source_count,
        )
        .select_from(
            t.news.outerjoin(
                t.enrichments, and_(e.news_id == n.id, e.model_version == model_version)
            )
            .outerjoin(t.news_tags, g.news_id == n.id)
            .outerjoin(t.news_stories, ns.news_id == n.id)
            .outerjoin(t.stories, st.story_id == ns.story_id)
        )
        .order_by(n.published_at.desc(), n.id)
        .limit(limit)
    )
    if lo is not None:
        q = q.where(n.published_at >= lo)
    if hi is not None:
        q = q.where(n.published_at < hi)
    if source:
        q = q.where(n.source == source)
    if topic:
        q = q.where(g.topics.contains(json.dumps(topic)))
    if relevant is not None:
        q = q.where(n.relevant == relevant)
    if article_id is not None:
        q = q.where(n.id == article_id)
    if sentiment:
        q = q.where(e.sentiment_label == sentiment)
    if replay is not None:
        q = q.where(n.replay == replay)
    for word in (text or "").split()[:8]:
        pattern = "%" + _escape_like(word.lower()) + "%"
        q = q.where(
            or_(
                func.lower(n.title).like(pattern, escape="\\"),
                func.lower(n.summary).like(pattern, escape="\\"),
            )
        )
    return [
        {
            "id": r.id,
            "source": r.source,
            "url": r.url,
            "title": r.title,
            "summary": r.summary,
            "published_at": r.published_at.isoformat(),
            "lang": r.lang,
            "replay": bool(r.replay),
            "author": r.author,
            "time_estimated": bool(r.time_estimated),
            "has_body": bool(r.has_body),
            "relevant": bool(r.relevant),
            "sentiment": r.sentiment,
            "sentiment_label": r.sentiment_label,
            # not_scored: no score from this model (a language it does not know: see lang)
            "sentiment_status": "not_scored" if r.sentiment is None else "scored",
            "topics": json.loads(r.topics) if r.topics else [],
            "entities": json.loads(r.entities) if r.entities else [],
            "story_id": r.story_id,
            "story_sources": r.source_count,
        }
        for r in conn.execute(q)
    ]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def news_sources(conn: Connection) -> list[dict[str, Any]]:
    """Every source that has articles in the store, with its article count."""
    n = t.news.c
    rows = conn.execute(
        select(n.source, func.count(), func.max(cast(n.replay, Integer)))
        .group_by(n.source)
        .order_by(n.source)
    ).all()
    return [{"source": r[0], "count": int(r[1]), "replay": bool(r[2])} for r in rows]


def news_body(conn: Connection, article_id: str) -> str | None:
    """The article's full text as extracted (plain text), or None if there is no such article."""
    n = t.news.c
    value = conn.execute(select(n.body).where(n.id == article_id)).scalar_one_or_none()
    return None if value is None else str(value)


def stories(conn: Connection, *, limit: int, min_sources: int = 1) -> list[dict[str, Any]]:
    """Stories by their latest article, with how many outlets reported them and who first."""
    st = t.stories.c
    rows = conn.execute(
        select(t.stories)
        .where(st.source_count >= min_sources)
        .order_by(st.last_published_at.desc(), st.story_id)
        .limit(limit)
    ).all()
    return [
        {
            "story_id": r.story_id,
            "title": r.title,
            "size": r.size,
            "source_count": r.source_count,
            "first_source": r.first_source,
            "first_published_at": r.first_published_at.isoformat(),
            "last_published_at": r.last_published_at.isoformat(),
            "replay": bool(r.replay),
        }
        for r in rows
    ]


STALE_AFTER = timedelta(minutes=3)


def health(conn: Connection) -> dict[str, Any]:
    now = utcnow()
    sources = []
    engine: dict[str, Any] = {"lag": None, "last_batch_at": None, "status": "down"}
    for r in conn.execute(select(t.source_health).order_by(t.source_health.c.name)):
        status = r.status
        # A poller is stale once it misses its own next poll by a margin; a stream after
        # STALE_AFTER without a report.
        due = (r.next_poll_at + STALE_AFTER) if r.next_poll_at else (r.updated_at + STALE_AFTER)
        if status == "up" and now > max(due, r.updated_at + STALE_AFTER):
            status = "stale"
        row = {
            "name": r.name,
            "kind": r.kind,
            "status": status,
            "last_success": r.last_success.isoformat() if r.last_success else None,
            "last_error": r.last_error.isoformat() if r.last_error else None,
            "last_error_reason": r.last_error_reason,
            "items_total": int(r.items_total),
            "detail": r.detail,
            "next_poll_at": r.next_poll_at.isoformat() if r.next_poll_at else None,
            "metrics": json.loads(r.metrics) if r.metrics else {},
            "updated_at": r.updated_at.isoformat(),
        }
        if r.kind == "engine":
            info = get_state(conn, "engine") or {}
            engine = {
                "status": status,
                "lag": info.get("lag"),
                "last_batch_at": row["last_success"],
                "batches": info.get("batches"),
                "messages": info.get("messages"),
            }
        sources.append(row)
    errors_total = conn.execute(select(func.count()).select_from(t.errors)).scalar_one()
    feeding = any(s["status"] == "up" and s["kind"] in ("prices", "replay") for s in sources)
    failing = [
        x["name"]
        for x in sources
        if x["kind"] in ("news", "prices") and x["status"] in ("down", "stale")
    ]
    ok = engine["status"] == "up" and feeding and not failing
    return {
        "status": "ok" if ok else "degraded",
        "sources": sources,
        "engine": engine,
        "errors_total": int(errors_total),
    }


def errors(conn: Connection, limit: int) -> list[dict[str, Any]]:
    c = t.errors.c
    rows = conn.execute(select(t.errors).order_by(c.time.desc()).limit(limit)).all()
    return [
        {
            "id": r.id,
            "time": r.time.isoformat(),
            "stage": r.stage,
            "source": r.source,
            "reason": r.reason,
            "payload": r.payload[:2000],
        }
        for r in rows
    ]


def last_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(t.updates.c.seq), 0))).scalar_one())


def first_seq(conn: Connection) -> int:
    """Every update after ``first_seq - 1`` is still available (the last one per key)."""
    state = get_state(conn, UPDATES_STATE) or {}
    return int(state.get("pruned_upto", 0)) + 1


def updates_since(conn: Connection, since: int, limit: int) -> list[dict[str, Any]]:
    c = t.updates.c
    rows = conn.execute(
        select(c.seq, c.key, c.kind, c.data).where(c.seq > since).order_by(c.seq).limit(limit)
    ).all()
    return [
        {
            "type": "update",
            "seq": int(r.seq),
            "key": r.key,
            "kind": r.kind,
            "data": json.loads(r.data),
        }
        for r in rows
    ]

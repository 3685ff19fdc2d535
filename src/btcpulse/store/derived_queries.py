"""Read queries for the derived analytics: bursts, the sentiment index, impact, alerts."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, select

from btcpulse.analytics.impact import impact_by
from btcpulse.store import schema as t


def bursts(
    conn: Connection, *, replay: bool, resolution_s: int, lo: int, hi: int, min_z: float
) -> list[dict[str, Any]]:
    b = t.bursts.c
    rows = conn.execute(
        select(b.key, b.start, b.count, b.mean, b.std, b.z)
        .where(
            and_(
                b.replay == replay,
                b.resolution_s == resolution_s,
                b.start >= lo,
                b.start < hi,
                b.z >= min_z,
            )
        )
        .order_by(b.start, b.key)
    ).all()
    return [
        {"key": r.key, "t": r.start, "count": r.count, "mean": r.mean, "std": r.std, "z": r.z}
        for r in rows
    ]


def index_series(
    conn: Connection, *, replay: bool, lo: int, hi: int, model_version: str
) -> list[dict[str, Any]]:
    """The index made with ``model_version`` only: versions are never mixed in one series."""
    i = t.index_values.c
    rows = conn.execute(
        select(t.index_values)
        .where(
            and_(
                i.replay == replay,
                i.time >= lo,
                i.time < hi,
                i.model_version == model_version,
            )
        )
        .order_by(i.time)
    ).all()
    return [
        {
            "t": r.time,
            "value": r.value,
            "sentiment": r.sentiment_c,
            "volume": r.volume_c,
            "momentum": r.momentum_c,
            "volatility": r.volatility_c,
            "n_news": r.n_news,
        }
        for r in rows
    ]


def index_latest(conn: Connection, *, replay: bool, model_version: str) -> dict[str, Any] | None:
    i = t.index_values.c
    r = conn.execute(
        select(t.index_values)
        .where(and_(i.replay == replay, i.model_version == model_version))
        .order_by(i.time.desc())
        .limit(1)
    ).first()
    if r is None:
        return None
    return {
        "t": r.time,
        "value": r.value,
        "components": {
            "sentiment": r.sentiment_c,
            "volume": r.volume_c,
            "momentum": r.momentum_c,
            "volatility": r.volatility_c,
        },
        "n_news": r.n_news,
        "drivers": json.loads(r.drivers),
        "model_version": r.model_version,
    }


def impact(conn: Connection, *, replay: bool, by: str) -> list[dict[str, Any]]:
    """Average price move after news, per topic or per source."""
    n, m, g = t.news.c, t.impacts.c, t.news_tags.c
    rows = conn.execute(
        select(n.id, n.source, g.topics, m.ret_60s, m.ret_300s, m.ret_3600s)
        .select_from(
            t.impacts.join(t.news, n.id == m.news_id).outerjoin(t.news_tags, g.news_id == n.id)
        )
        .where(n.replay == replay)
    ).all()
    df = pl.DataFrame(
        [(r[0], r[1], json.loads(r[2]) if r[2] else [], r[3], r[4], r[5]) for r in rows],
        schema={
            "id": pl.String,
            "source": pl.String,
            "topic": pl.List(pl.String),
            "ret_60s": pl.Float64,
            "ret_300s": pl.Float64,
            "ret_3600s": pl.Float64,
        },
        orient="row",
    )
    if by == "topic":
        df = df.explode("topic").drop_nulls("topic")
    return impact_by(df.drop("topic" if by == "source" else "source"), by).to_dicts()


def alerts(conn: Connection, *, replay: bool | None, limit: int) -> list[dict[str, Any]]:
    a = t.alerts.c
    q = select(t.alerts).order_by(a.time.desc(), a.alert_id).limit(limit)
    if replay is not None:
        q = q.where(a.replay == replay)
    return [
        {
            "alert_id": r.alert_id,
            "kind": r.kind,
            "rule": r.rule,
            "t": r.time,
            "value": r.value,
            "message": r.message,
            "params": json.loads(r.params),
            "replay": bool(r.replay),
            "created_at": r.created_at.isoformat(),
        }
        for r in conn.execute(q)
    ]

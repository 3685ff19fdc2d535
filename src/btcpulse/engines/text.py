"""Text analytics for the embedded engine: topics and entities per article (per record), and
stories across outlets (cross-batch, derived from the recent rows read back from the store).

Replayed and live articles never share a story: each world is clustered on its own.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Connection, and_, delete, or_, select

from btcpulse.analytics.entities import ENTITIES_VERSION, entities_for
from btcpulse.analytics.sentiment import SentimentScorer, score_news
from btcpulse.analytics.stories import RECENT_WINDOW, assign_stories, story_summary
from btcpulse.analytics.topics import TOPICS_VERSION, topics_for
from btcpulse.events import AnalyticsUpdate, NewsItem
from btcpulse.store import schema as t
from btcpulse.store.upsert import upsert

TAGS_VERSION = f"{TOPICS_VERSION}+{ENTITIES_VERSION}"

_ITEM_SCHEMA: dict[str, Any] = {
    "id": pl.String,
    "source": pl.String,
    "title": pl.String,
    "summary": pl.String,
    "published_at": pl.Datetime("us", "UTC"),
}


def _frame(items: list[NewsItem]) -> pl.DataFrame:
    return pl.DataFrame(
        [(i.id, i.source, i.title, i.summary, i.published_at) for i in items],
        schema=_ITEM_SCHEMA,
        orient="row",
    )


def score_and_store(
    conn: Connection,
    items: list[NewsItem],
    scorer: SentimentScorer,
    now: datetime,
    *,
    drop_other_versions: bool = False,
) -> dict[str, tuple[float, str]]:
    """Score each article in a language ``scorer`` knows and store it; an article it does not
    know keeps no score at all (whatever the model), so the stored rows depend on the set of
    copies only, never on how they were batched. ``drop_other_versions`` (reprocessing) also
    removes the rows of other models. Returns ``id → (sentiment, label)`` of the scored."""
    scored = score_news(
        pl.DataFrame(
            {
                "id": [i.id for i in items],
                "title": [i.title for i in items],
                "lang": [i.lang for i in items],
            },
            schema={"id": pl.String, "title": pl.String, "lang": pl.String},
        ),
        scorer,
    )
    score_of = {
        str(r["id"]): (float(r["sentiment"]), str(r["sentiment_label"]))
        for r in scored.iter_rows(named=True)
    }
    e = t.enrichments.c
    unscored = [i.id for i in items if i.id not in score_of]
    stale: ColumnElement[bool] = e.news_id.in_(unscored)
    if drop_other_versions:
        stale = or_(stale, e.model_version != scorer.version)
    if unscored or drop_other_versions:
        conn.execute(
            delete(t.enrichments).where(and_(e.news_id.in_(list(score_of) + unscored), stale))
        )
    upsert(
        conn,
        t.enrichments,
        [
            {
                "news_id": r["id"],
                "model_version": r["model_version"],
                "sentiment": r["sentiment"],
                "sentiment_label": r["sentiment_label"],
                "enriched_at": now,
            }
            for r in scored.iter_rows(named=True)
        ],
    )
    return score_of


def tag_news(conn: Connection, items: list[NewsItem]) -> dict[str, dict[str, Any]]:
    """Topics and entities of each article, stored; returns them by article id."""
    df = _frame(items)
    tags = topics_for(df).join(entities_for(df), on="id", how="left")
    out: dict[str, dict[str, Any]] = {}
    rows = []
    for r in tags.iter_rows(named=True):
        entities = [{"name": e["name"], "type": e["type"]} for e in (r["entities"] or [])]
        out[r["id"]] = {"topics": list(r["topics"] or []), "entities": entities}
        rows.append(
            {
                "news_id": r["id"],
                "topics": json.dumps(out[r["id"]]["topics"]),
                "entities": json.dumps(entities),
                "version": TAGS_VERSION,
            }
        )
    upsert(conn, t.news_tags, rows)
    return out


def _assigned(conn: Connection, where: ColumnElement[bool]) -> pl.DataFrame:
    """Articles already given a story (``id, source, title, summary, published_at,
    story_id``) matching ``where``."""
    n, s = t.news.c, t.news_stories.c
    rows = conn.execute(
        select(n.id, n.source, n.title, n.summary, n.published_at, s.story_id)
        .select_from(t.news.join(t.news_stories, s.news_id == n.id))
        .where(where)
    ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={**_ITEM_SCHEMA, "story_id": pl.String},
        orient="row",
    )


def cluster_stories(
    conn: Connection, items: list[NewsItem], now: datetime
) -> tuple[dict[str, dict[str, Any]], list[AnalyticsUpdate]]:
    """Give each not-yet-assigned article a story; rewrite the touched stories' summaries.
    Returns story info by article id and one update per touched story."""
    ids = [i.id for i in items]
    s = t.news_stories.c
    known = dict(conn.execute(select(s.news_id, s.story_id).where(s.news_id.in_(ids))).all())
    touched: set[str] = set(known.values())
    story_of: dict[str, str] = dict(known)
    for replay in (False, True):
        fresh = [i for i in items if i.replay == replay and i.id not in known]
        if not fresh:
            continue
        new = _frame(fresh)
        lo = min(i.published_at for i in fresh) - RECENT_WINDOW
        hi = max(i.published_at for i in fresh) + RECENT_WINDOW
        n = t.news.c
        recent = _assigned(
            conn, and_(n.replay == replay, n.published_at >= lo, n.published_at < hi)
        )
        assigned = assign_stories(recent, new)
        upsert(
            conn,
            t.news_stories,
            assigned.select("id", "story_id").rename({"id": "news_id"}).to_dicts(),
        )
        for r in assigned.iter_rows(named=True):
            story_of[r["id"]] = r["story_id"]
            touched.add(r["story_id"])
    if not touched:
        return {}, []
    members = _assigned(conn, t.news_stories.c.story_id.in_(sorted(touched)))
    summary = story_summary(members)
    last = members.group_by("story_id").agg(pl.col("published_at").max().alias("last_published_at"))
    summary = summary.join(last, on="story_id")
    info: dict[str, dict[str, Any]] = {}
    rows, updates = [], []
    for r in summary.iter_rows(named=True):
        replay = str(r["first_source"]).startswith("replay:")
        row = {
            "story_id": r["story_id"],
            "title": r["title"],
            "size": int(r["size"]),
            "source_count": int(r["source_count"]),
            "first_source": r["first_source"],
            "first_published_at": r["first_published_at"],
            "last_published_at": r["last_published_at"],
            "replay": replay,
        }
        rows.append(row)
        payload = {
            **row,
            "first_published_at": row["first_published_at"].isoformat(),
            "last_published_at": row["last_published_at"].isoformat(),
        }
        info[r["story_id"]] = payload
        updates.append(
            AnalyticsUpdate(key=f"story:{r['story_id']}", kind="story", data=payload, time=now)
        )
    upsert(conn, t.stories, rows)
    by_item = {
        i: {"story_id": sid, "story_sources": info[sid]["source_count"]}
        for i, sid in story_of.items()
        if sid in info
    }
    return by_item, updates

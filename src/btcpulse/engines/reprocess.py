"""Reprocessing after a model change: re-run enrichment and the derived analytics over the
stored raw data, idempotently.

An article is *stale* when it has no sentiment from the current model (in a language the model
knows; one in another language is stale while it still has a score: a guess to remove) or its
topics/entities were tagged by another tagger version. Stale articles are re-enriched (their
rows from other model versions are replaced, so each article keeps one sentiment row, or none
in a language the model does not know), then the derived
analytics (bursts, the sentiment index, impact, alerts) are recomputed day by day over the
range with the current model, through the same ``derive`` both engines call. A second run finds
nothing stale and rewrites nothing. Story ids are left as they are: they do not depend on a
model version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, or_, select

from btcpulse.analytics.alerts import Rule
from btcpulse.analytics.sentiment import ENGLISH, SentimentScorer
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.timeutil import from_epoch_s, utcnow

from .derived import Touched, derive, price_series
from .news import item_of
from .text import TAGS_VERSION, score_and_store, tag_news

ARTICLES_PER_TXN = 500
DAY_S = 86_400


@dataclass
class Outcome:
    articles: int = 0  # re-enriched
    days: int = 0  # day windows whose derived analytics were recomputed
    index_rows: int = 0  # index rows written with the current model


def stale_articles(
    conn: Connection,
    lo: datetime,
    hi: datetime,
    version: str,
    languages: tuple[str, ...] = ENGLISH,
) -> list[str]:
    """Articles published in ``[lo, hi)`` missing the current sentiment or tags, oldest first
    (an article not in ``languages``, the model's, is missing a sentiment only if it has one)."""
    n, e, g = t.news.c, t.enrichments.c, t.news_tags.c
    current = select(e.news_id).where(e.model_version == version).scalar_subquery()
    scored = select(e.news_id).scalar_subquery()
    known = n.lang.in_(languages)
    rows = conn.execute(
        select(n.id)
        .select_from(t.news.outerjoin(t.news_tags, g.news_id == n.id))
        .where(
            and_(
                n.published_at >= lo,
                n.published_at < hi,
                or_(
                    and_(known, n.id.not_in(current)),
                    and_(~known, n.id.in_(scored)),
                    g.version.is_(None),
                    g.version != TAGS_VERSION,
                ),
            )
        )
        .order_by(n.published_at, n.id)
    ).all()
    return [str(r[0]) for r in rows]


def reenrich(conn: Connection, ids: list[str], scorer: SentimentScorer) -> None:
    """Sentiment from ``scorer`` (replacing other versions' rows; none for an article in a
    language it does not know) and fresh tags."""
    rows = conn.execute(select(t.news).where(t.news.c.id.in_(ids))).mappings().all()
    items = [item_of(dict(r)) for r in rows]
    score_and_store(conn, items, scorer, utcnow(), drop_other_versions=True)
    tag_news(conn, items)


def _stale_index_days(conn: Connection, replay: bool, lo: int, hi: int, version: str) -> set[int]:
    i = t.index_values.c
    rows = conn.execute(
        select(i.time - i.time % DAY_S)
        .where(and_(i.replay == replay, i.time >= lo, i.time < hi, i.model_version != version))
        .distinct()
    ).all()
    return {int(r[0]) for r in rows}


def _day_touched(conn: Connection, replay: bool, day: int, series: str | None) -> Touched:
    n, c = t.news.c, t.candles.c
    news = conn.execute(
        select(n.published_at).where(
            and_(
                n.replay == replay,
                n.published_at >= from_epoch_s(day),
                n.published_at < from_epoch_s(day + DAY_S),
            )
        )
    ).all()
    touched = Touched(news_times=sorted(int(r[0].timestamp()) for r in news))
    if series is not None:
        starts = conn.execute(
            select(c.start)
            .where(
                and_(
                    c.venue == series,
                    c.resolution_s == 60,
                    c.start >= day,
                    c.start < day + DAY_S,
                )
            )
            .order_by(c.start)
        ).all()
        touched.candle_starts[series] = [int(r[0]) for r in starts]
    return touched


def reprocess(
    store: Store,
    scorer: SentimentScorer,
    rules: tuple[Rule, ...],
    lo: datetime,
    hi: datetime,
    progress: Callable[[str, int, int], None] = lambda _stage, _done, _total: None,
) -> Outcome:
    """Re-enrich the stale articles of ``[lo, hi)``, then recompute the derived analytics of
    every day that had a stale article or an index value from another model."""
    out = Outcome()
    with store.read() as conn:
        ids = stale_articles(conn, lo, hi, scorer.version, scorer.languages)
        n = t.news.c
        days_of_ids = (
            {
                (bool(r[0]), int(r[1].timestamp()) // DAY_S * DAY_S)
                for r in conn.execute(select(n.replay, n.published_at).where(n.id.in_(ids)))
            }
            if ids
            else set()
        )
    for done, chunk in _chunks(ids, ARTICLES_PER_TXN):
        with store.begin() as conn:
            reenrich(conn, chunk, scorer)
        out.articles += len(chunk)
        progress("articles", done, len(ids))
    lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
    days: set[tuple[bool, int]] = set(days_of_ids)
    with store.read() as conn:
        for replay in (False, True):
            days |= {
                (replay, d) for d in _stale_index_days(conn, replay, lo_s, hi_s, scorer.version)
            }
    todo = sorted(days, key=lambda d: (d[1], d[0]))
    for k, (replay, day) in enumerate(todo, 1):
        with store.begin() as conn:
            touched = _day_touched(conn, replay, day, price_series(conn, replay))
            if touched.news_times or any(touched.candle_starts.values()):
                derive(conn, replay, touched, utcnow(), scorer.version, rules)
            out.index_rows += _count_index(conn, replay, day, scorer.version)
        out.days += 1
        progress("days", k, len(todo))
    return out


def _count_index(conn: Connection, replay: bool, day: int, version: str) -> int:
    i = t.index_values.c
    return int(
        conn.execute(
            select(func.count()).where(
                and_(
                    i.replay == replay,
                    i.time >= day,
                    i.time < day + DAY_S,
                    i.model_version == version,
                )
            )
        ).scalar_one()
    )


def _chunks(ids: list[str], size: int) -> Iterator[tuple[int, list[str]]]:
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        yield start + len(chunk), chunk

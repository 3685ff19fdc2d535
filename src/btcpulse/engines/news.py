"""News rows: per-copy enrichment (language, relevance) and the merge rule for one article.

The same article (one id = one canonical URL) may arrive several times: from a second source,
or as the article stage's copy carrying the page's full text. The store keeps one row, the
merge of every copy seen. The rule is a semilattice (commutative, associative, idempotent), so
the stored row depends only on the set of copies, never on their arrival order or batching,
and reprocessing the whole log gives the identical row:

- *Who and when* (``source, url, title, published_at, fetched_at, time_estimated, lang``)
  come together from the **first** copy: a copy with a real published time beats one whose
  time was estimated (the fetched time used), then the earliest ``published_at``, then the
  earliest ``fetched_at``, then the smallest source name (a tie-break).
- *Text* (``summary, body, author``): the non-empty one; between two non-empty ones, the
  longer (then the smaller, a tie-break). A later copy can add a body, never erase one.
- ``lang`` is read per copy from its own title and summary (the source's declared language
  where detection is not confident) and travels with the first copy; ``relevant`` is true
  when any copy is about Bitcoin.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, select

from btcpulse.analytics.language import detect_language, headline_text
from btcpulse.analytics.relevance import is_relevant
from btcpulse.events import NewsItem
from btcpulse.store import schema as t

NewsRow = dict[str, Any]

_FIRST = ("time_estimated", "published_at", "fetched_at", "source", "url", "title", "lang")
"""The rank of a copy (smallest first) and the fields taken from the first copy."""
_TEXT = ("summary", "body", "author")
COLUMNS = ("id", *_FIRST, *_TEXT, "replay", "relevant")


def _copies(items: Sequence[NewsItem]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "title": [i.title for i in items],
            "summary": [i.summary for i in items],
            "declared": [i.lang for i in items],
        },
        schema={"title": pl.String, "summary": pl.String, "declared": pl.String},
    )


def _languages(df: pl.DataFrame) -> list[str]:
    text = df.select(headline_text(pl.col("title"), pl.col("summary")))[:, 0]
    return detect_language(text, df["declared"]).to_list()


def copy_languages(items: Sequence[NewsItem]) -> list[str]:
    """The language of each copy, as :func:`copy_rows` reads it (Spark's executors use it to
    skip scoring the headlines the model does not know)."""
    return _languages(_copies(items)) if items else []


def copy_rows(items: Sequence[NewsItem]) -> list[NewsRow]:
    """One store row per copy, with its language and relevance (vectorised over the batch)."""
    if not items:
        return []
    df = _copies(items)
    langs = _languages(df)
    relevant = df.select(is_relevant(pl.col("title"), pl.col("summary")))[:, 0].to_list()
    return [
        {
            "id": i.id,
            "source": i.source,
            "url": i.url,
            "title": i.title,
            "summary": i.summary,
            "published_at": i.published_at,
            "fetched_at": i.fetched_at,
            "lang": lang,
            "replay": i.replay,
            "author": i.author,
            "body": i.body,
            "time_estimated": i.time_estimated,
            "relevant": bool(rel),
        }
        for i, lang, rel in zip(items, langs, relevant, strict=True)
    ]


def _rank(row: NewsRow) -> tuple[Any, ...]:
    return tuple(row[k] for k in _FIRST)


def _text_key(value: str) -> tuple[int, str]:
    return (len(value), value)


def merge(a: NewsRow, b: NewsRow) -> NewsRow:
    """The row for two copies of one article (see the module's rule)."""
    first = a if _rank(a) <= _rank(b) else b
    out = dict(first)
    for k in _TEXT:
        out[k] = max(a[k] or "", b[k] or "", key=_text_key)
    out["relevant"] = bool(a["relevant"] or b["relevant"])
    return out


def fold(rows: Iterable[NewsRow]) -> dict[str, NewsRow]:
    """Merge copies by article id."""
    out: dict[str, NewsRow] = {}
    for r in rows:
        prev = out.get(r["id"])
        out[r["id"]] = r if prev is None else merge(prev, r)
    return out


def merge_stored(
    conn: Connection, rows: dict[str, NewsRow]
) -> tuple[list[NewsRow], dict[str, datetime]]:
    """Merge ``rows`` with the stored rows of the same articles (read in the caller's
    transaction). Returns the rows to write and the stored ``published_at`` of the articles
    whose time moved (their old windows need revisiting too)."""
    if not rows:
        return [], {}
    cols = [getattr(t.news.c, k) for k in COLUMNS]
    stored = {
        r.id: {k: getattr(r, k) for k in COLUMNS}
        for r in conn.execute(select(*cols).where(t.news.c.id.in_(list(rows))))
    }
    merged, moved = [], {}
    for key, row in rows.items():
        old = stored.get(key)
        if old is None:
            merged.append(row)
            continue
        old["replay"], old["time_estimated"] = bool(old["replay"]), bool(old["time_estimated"])
        old["relevant"] = bool(old["relevant"])
        new = merge(old, row)
        if new["published_at"] != old["published_at"]:
            moved[key] = old["published_at"]
        merged.append(new)
    return merged, moved


def item_of(row: NewsRow) -> NewsItem:
    """The article as an event again (for the analytics that take events)."""
    return NewsItem(
        id=row["id"],
        source=row["source"],
        url=row["url"],
        title=row["title"],
        summary=row["summary"],
        published_at=row["published_at"],
        fetched_at=row["fetched_at"],
        lang=row["lang"],
        author=row["author"],
        body=row["body"],
        time_estimated=row["time_estimated"],
    )

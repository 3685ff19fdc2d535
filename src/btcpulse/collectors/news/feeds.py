"""RSS/Atom parsing (feedparser) into ``NewsItem`` events; bad entries become dead letters."""

from __future__ import annotations

import calendar
import html
import re
from datetime import UTC, datetime
from typing import Any

import feedparser

from btcpulse.events import DeadLetter, NewsItem, article_id

_TAG = re.compile(r"<[^>]+>")
# An empty <dc:description/> after a real <description> would win in feedparser (same key).
_EMPTY_DC_DESCRIPTION = re.compile(rb"<dc:description\s*/>|<dc:description>\s*</dc:description>")
_WS = re.compile(r"\s+")


def clean_text(value: str, limit: int) -> str:
    """Plain text from feed HTML: tags dropped, entities decoded, spaces collapsed."""
    text = _WS.sub(" ", html.unescape(_TAG.sub(" ", value or ""))).strip()
    return text[:limit]


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = entry.get(key)
        if st:
            return datetime.fromtimestamp(calendar.timegm(st), UTC)
    return None


def parse_feed(
    body: bytes, *, source: str, fetched_at: datetime, id_prefix: str = ""
) -> tuple[list[NewsItem], list[DeadLetter]]:
    """Parse a feed document. Never raises: whatever cannot be used is a dead letter."""
    items: list[NewsItem] = []
    letters: list[DeadLetter] = []
    parsed = feedparser.parse(_EMPTY_DC_DESCRIPTION.sub(b"", body))
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        why = parsed.get("bozo_exception") or "no RSS/Atom document found"
        reason = f"not a usable feed: {why!r}"
        letters.append(
            DeadLetter(
                stage="collect",
                source=source,
                reason=reason[:2000],
                payload=body[:2000].decode("utf-8", errors="replace"),
            )
        )
        return items, letters
    for entry in parsed.entries:
        link = (entry.get("link") or "").strip()
        title = clean_text(entry.get("title", ""), 2000)
        if not link.startswith(("http://", "https://")) or not title:
            letters.append(
                DeadLetter(
                    stage="collect",
                    source=source,
                    reason="feed entry without an http(s) link or a title",
                    payload=repr(dict(entry))[:5000],
                )
            )
            continue
        published = _entry_time(entry) or fetched_at
        items.append(
            NewsItem(
                id=id_prefix + article_id(link),
                source=source,
                url=link,
                title=title,
                summary=clean_text(entry.get("summary", ""), 20000),
                published_at=published,
                fetched_at=fetched_at,
                lang=(parsed.feed.get("language") or "en")[:2].lower(),
            )
        )
    return items, letters

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


def clean_text(value: Any, limit: int) -> str:
    """Plain text from feed HTML: tags dropped, entities decoded, spaces collapsed (anything
    but a string, such as a number where a JSON source should have text, is no text)."""
    if not isinstance(value, str):
        return ""
    text = _WS.sub(" ", html.unescape(_TAG.sub(" ", value))).strip()
    return text[:limit]


ENTRY_ERRORS = (ValueError, TypeError, AttributeError, OverflowError, UnicodeError)
"""What building one entry's event may raise on hostile input (pydantic's ValidationError is a
ValueError): the entry becomes a dead letter, the rest of the document is kept."""


def _entry_time(entry: Any) -> datetime | None:
    """The entry's time; one that cannot be a UTC time (year 0 once in UTC) counts as none."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = entry.get(key)
        if st:
            try:
                return datetime.fromtimestamp(calendar.timegm(st), UTC)
            except (ValueError, OverflowError, OSError):
                continue
    return None


def _looks_like_html(body: bytes, content_type: str) -> bool:
    head = body[:1024].lstrip().lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def _letter(source: str, reason: str, payload: str = "") -> DeadLetter:
    return DeadLetter(stage="collect", source=source, reason=reason[:2000], payload=payload)


def parse_feed(
    body: bytes,
    *,
    source: str,
    fetched_at: datetime,
    id_prefix: str = "",
    content_type: str = "",
) -> tuple[list[NewsItem], list[DeadLetter]]:
    """Parse a feed document. Never raises: whatever cannot be used is a dead letter.

    A document feedparser had to repair (truncated or invalid XML, bytes that do not match the
    declared encoding) keeps the items it yielded and adds one dead letter saying why.
    ``content_type`` (the HTTP header) only sharpens the reason when HTML came instead of a
    feed: it is not given to feedparser, whose media-type rules flag most real feeds.
    """
    items: list[NewsItem] = []
    letters: list[DeadLetter] = []
    try:
        parsed = feedparser.parse(_EMPTY_DC_DESCRIPTION.sub(b"", body))
    except Exception as exc:  # feedparser is meant never to raise, yet can (a bad namespace URI)
        payload = body[:2000].decode("utf-8", errors="replace")
        return items, [_letter(source, f"not a usable feed: the parser failed: {exc!r}", payload)]
    why = parsed.get("bozo_exception")
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        if _looks_like_html(body, content_type):
            reason = f"not a usable feed: an HTML page (Content-Type {content_type or 'unset'})"
        elif not body.strip():
            reason = "not a usable feed: empty body"
        else:
            reason = f"not a usable feed: {why or 'no RSS/Atom document found'!r}"
        payload = body[:2000].decode("utf-8", errors="replace")
        return items, [_letter(source, reason, payload)]
    if parsed.bozo:
        letters.append(
            _letter(source, f"malformed feed, {len(parsed.entries)} entries kept: {why!r}")
        )
    lang = parsed.feed.get("language")
    lang = lang[:2].lower() if isinstance(lang, str) and lang else "en"
    for entry in parsed.entries:
        link = entry.get("link")
        link = link.strip() if isinstance(link, str) else ""
        title = clean_text(entry.get("title", ""), 2000)
        if not link.startswith(("http://", "https://")) or not title:
            letters.append(
                _letter(
                    source,
                    "feed entry without an http(s) link or a title",
                    repr(dict(entry))[:5000],
                )
            )
            continue
        published = _entry_time(entry)
        try:
            items.append(
                NewsItem(
                    id=id_prefix + article_id(link),
                    source=source,
                    url=link,
                    title=title,
                    summary=clean_text(entry.get("summary", ""), 20000),
                    published_at=published or fetched_at,
                    fetched_at=fetched_at,
                    lang=lang,
                    author=clean_text(entry.get("author", ""), 500),
                    time_estimated=published is None,
                )
            )
        except ENTRY_ERRORS as exc:
            letters.append(unusable_entry(source, exc, repr(dict(entry))))
    return items, letters


def unusable_entry(source: str, exc: BaseException, payload: str) -> DeadLetter:
    """The dead letter of an entry whose event could not be built (a 5,000-character link, a
    lone surrogate in a URL), with the reason."""
    reason = str(exc).replace("\n", " ") if str(exc) else type(exc).__name__
    return _letter(source, f"unusable entry: {reason}", payload[:5000])

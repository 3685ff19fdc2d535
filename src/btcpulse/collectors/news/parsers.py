"""Per-kind parsers, pure functions ``bytes -> (items, dead letters)`` that never raise.

* ``rss``: RSS/Atom through feedparser (:mod:`.feeds`);
* ``reddit``: a Reddit listing (``/r/<sub>/new.json``): ``{"kind": "Listing", "data":
  {"children": [{"kind": "t3", "data": {...}}], "after": ...}}``;
* ``hn``: Hacker News through Algolia (``/api/v1/search_by_date``): ``{"hits": [{"objectID",
  "title", "url", "author", "created_at_i", "story_text", ...}]}``;
* ``cryptopanic``: CryptoPanic API v1 (``/api/v1/posts/``): ``{"results": [{"title",
  "published_at", "url", "source": {...}, ...}]}``.

A link post (Reddit, HN) takes the id of the article it links to (hash of the canonical URL), so
an article seen in an outlet's feed and on Reddit is stored once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from btcpulse.collectors.news.feeds import ENTRY_ERRORS, clean_text, parse_feed, unusable_entry
from btcpulse.events import DeadLetter, NewsItem, article_id

Parsed = tuple[list[NewsItem], list[DeadLetter]]
Parser = Callable[..., Parsed]


def _letter(source: str, reason: str, payload: str = "") -> DeadLetter:
    return DeadLetter(stage="collect", source=source, reason=reason[:2000], payload=payload)


def _load(body: bytes, source: str, content_type: str) -> tuple[Any, list[DeadLetter]]:
    """The JSON document, or a dead letter saying why there is none."""
    try:
        return json.loads(body), []
    except RecursionError:
        payload = body[:2000].decode("utf-8", errors="replace")
        return None, [_letter(source, "not a usable JSON answer: nested too deeply", payload)]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        head = body[:1024].lstrip().lower()
        if "html" in content_type.lower() or head.startswith((b"<!doctype", b"<html")):
            what = f"an HTML page (Content-Type {content_type or 'unset'})"
        elif not body.strip():
            what = "an empty body"
        else:
            what = f"invalid JSON: {exc}"
        payload = body[:2000].decode("utf-8", errors="replace")
        return None, [_letter(source, f"not a usable JSON answer: {what}", payload)]


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return t.astimezone(UTC) if t.tzinfo is not None else None
    except (ValueError, OverflowError):  # not ISO 8601, or year 0 once in UTC
        return None


def _item(
    *,
    source: str,
    url: str,
    title: str,
    published: datetime | None,
    fetched_at: datetime,
    summary: str = "",
    author: str = "",
    id_prefix: str = "",
) -> NewsItem:
    return NewsItem(
        id=id_prefix + article_id(url),
        source=source,
        url=url,
        title=title,
        summary=summary,
        published_at=published or fetched_at,
        fetched_at=fetched_at,
        author=author[:500],
        time_estimated=published is None,
    )


def _add(items: list[NewsItem], bad: list[DeadLetter], raw: Any, **fields: Any) -> None:
    """Append the entry's event, or its dead letter (with the reason) when none can be built
    from it: a 5,000-character link, a lone surrogate in a URL."""
    try:
        items.append(_item(**fields))
    except ENTRY_ERRORS as exc:
        bad.append(unusable_entry(fields["source"], exc, json.dumps(raw)))


def _http(url: Any) -> str:
    u = url.strip() if isinstance(url, str) else ""
    try:
        return u if u.startswith(("http://", "https://")) and urlsplit(u).netloc else ""
    except ValueError:  # "http://[" is not a URL
        return ""


def _entries(
    doc: Any, path: tuple[str, ...], source: str, what: str
) -> tuple[list[Any], list[DeadLetter]]:
    node = doc
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, list):
        shape = ".".join(path)
        payload = json.dumps(doc)[:2000] if doc is not None else ""
        return [], [_letter(source, f"not a {what}: no '{shape}' list", payload)]
    return node, []


def parse_reddit(
    body: bytes, *, source: str, fetched_at: datetime, content_type: str = "", id_prefix: str = ""
) -> Parsed:
    doc, bad = _load(body, source, content_type)
    if bad:
        return [], bad
    children, bad = _entries(doc, ("data", "children"), source, "Reddit listing")
    items: list[NewsItem] = []
    for child in children:
        d = child.get("data") if isinstance(child, dict) else None
        title = clean_text(d.get("title") or "", 2000) if isinstance(d, dict) else ""
        if not isinstance(d, dict) or child.get("kind") != "t3" or not title:
            bad.append(_letter(source, "Reddit post without a title", json.dumps(child)[:5000]))
            continue
        permalink = d.get("permalink")
        own = (
            f"https://www.reddit.com{permalink}"
            if isinstance(permalink, str) and permalink.startswith("/")
            else ""
        )
        link = _http(d.get("url"))
        host = urlsplit(link).netloc.lower()
        if d.get("is_self") or not link or host.endswith(("reddit.com", "redd.it")):
            link = own or link  # a text post, or an image/video hosted by Reddit: the thread
        if not link:
            bad.append(_letter(source, "Reddit post without a link", json.dumps(child)[:5000]))
            continue
        _add(
            items,
            bad,
            child,
            source=source,
            url=link,
            title=title,
            summary=clean_text(d.get("selftext") or "", 20000),
            published=_epoch(d.get("created_utc")),
            fetched_at=fetched_at,
            author=str(d.get("author") or ""),
            id_prefix=id_prefix,
        )
    return items, bad


def parse_hn(
    body: bytes, *, source: str, fetched_at: datetime, content_type: str = "", id_prefix: str = ""
) -> Parsed:
    doc, bad = _load(body, source, content_type)
    if bad:
        return [], bad
    hits, bad = _entries(doc, ("hits",), source, "Hacker News (Algolia) search answer")
    items: list[NewsItem] = []
    for hit in hits:
        title = clean_text(hit.get("title") or "", 2000) if isinstance(hit, dict) else ""
        oid = str(hit.get("objectID") or "") if isinstance(hit, dict) else ""
        if not title or not oid.isdigit():
            bad.append(
                _letter(source, "HN hit without a title or an objectID", json.dumps(hit)[:5000])
            )
            continue
        link = _http(hit.get("url")) or f"https://news.ycombinator.com/item?id={oid}"
        _add(
            items,
            bad,
            hit,
            source=source,
            url=link,
            title=title,
            summary=clean_text(hit.get("story_text") or "", 20000),
            published=_epoch(hit.get("created_at_i")) or _iso(hit.get("created_at")),
            fetched_at=fetched_at,
            author=str(hit.get("author") or ""),
            id_prefix=id_prefix,
        )
    return items, bad


def parse_cryptopanic(
    body: bytes, *, source: str, fetched_at: datetime, content_type: str = "", id_prefix: str = ""
) -> Parsed:
    doc, bad = _load(body, source, content_type)
    if bad:
        return [], bad
    posts, bad = _entries(doc, ("results",), source, "CryptoPanic posts answer")
    items: list[NewsItem] = []
    for post in posts:
        title = clean_text(post.get("title") or "", 2000) if isinstance(post, dict) else ""
        link = _http(post.get("url")) if isinstance(post, dict) else ""
        if not title or not link:
            bad.append(
                _letter(
                    source, "CryptoPanic post without a title or a URL", json.dumps(post)[:5000]
                )
            )
            continue
        _add(
            items,
            bad,
            post,
            source=source,
            url=link,
            title=title,
            published=_iso(post.get("published_at")) or _iso(post.get("created_at")),
            fetched_at=fetched_at,
            id_prefix=id_prefix,
        )
    return items, bad


PARSERS: dict[str, Parser] = {
    "rss": parse_feed,
    "reddit": parse_reddit,
    "hn": parse_hn,
    "cryptopanic": parse_cryptopanic,
}


def parse(
    kind: str, body: bytes, *, source: str, fetched_at: datetime, content_type: str = ""
) -> Parsed:
    """Parse a fetched document of this kind of source."""
    return PARSERS[kind](body, source=source, fetched_at=fetched_at, content_type=content_type)

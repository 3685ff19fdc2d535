"""Pure parts of the article stage: which feed items to follow, and what a page gives
(full text, author, published time) through trafilatura. No I/O, no Scrapy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from btcpulse.events import NewsItem
from btcpulse.timeutil import to_utc

HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_BODY_CHARS = 200_000  # NewsItem.body's limit
MAX_AUTHOR_CHARS = 500
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


@dataclass(frozen=True, slots=True)
class Article:
    text: str
    author: str
    published: datetime | None
    """The page's published time, only when the page gives a time with a UTC offset."""


def wants_page(item: NewsItem) -> bool:
    """Follow a feed item to its page: live (not replayed), http(s) and no text yet."""
    return not item.replay and item.url.startswith(("http://", "https://")) and not item.body


def is_html(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES


def _published(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:  # a date without a time or without an offset: too vague for event time
        return None
    return to_utc(parsed)  # %z: always aware


def extract_article(html: str, url: str) -> Article | None:
    """Main text, author and published time of an article page (None: no article text)."""
    import trafilatura

    doc = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        date_extraction_params={
            "outputformat": _DATE_FORMAT,
            "original_date": True,
            "extensive_search": False,
        },
    )
    if doc is None or isinstance(doc, dict):
        return None
    text = (doc.text or "").strip()
    if not text:
        return None
    return Article(
        text=text[:MAX_BODY_CHARS],
        author=(doc.author or "").strip()[:MAX_AUTHOR_CHARS],
        published=_published(doc.date),
    )


def enriched(item: NewsItem, article: Article) -> NewsItem:
    """The feed item with the page's text and author; the page's time replaces the feed's
    only where the feed had none (``time_estimated``)."""
    update: dict[str, object] = {"body": article.text, "author": article.author or item.author}
    if item.time_estimated and article.published is not None:
        update.update(published_at=article.published, time_estimated=False)
    return NewsItem.model_validate({**item.model_dump(), **update})

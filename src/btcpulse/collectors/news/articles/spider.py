"""The article spider: fed continuously from the bus (the scrapy-redis pattern), it follows new
feed items to their pages and yields one :class:`Outcome` per message for the pipeline.

A timer polls the bus consumer (never blocking the reactor); ``spider_idle`` keeps the spider
open while there is nothing to fetch. Every message gets exactly one outcome: skipped (not a
live feed item without text, or an article already fetched), the article with its text, or a
dead letter with the reason (HTTP error, robots.txt, timeout, too large, not HTML, no text).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import scrapy
import structlog
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.defer import deferred_from_coro
from twisted.internet import task
from twisted.python.failure import Failure

from btcpulse.bus.base import Consumer, Producer, TopicPartition
from btcpulse.collectors.health import HealthReporter
from btcpulse.config import Settings
from btcpulse.events import DeadLetter, NewsItem, parse_event

from .extract import enriched, extract_article, is_html, wants_page
from .offsets import OffsetTracker
from .pipelines import Outcome

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

log = structlog.get_logger("articles")

HEALTH_EVERY_S = 30.0
RECENT_KEEP = 5000  # article ids fetched lately: a second copy of one is not fetched again


class ArticleSpider(scrapy.Spider):
    name = "articles"

    def __init__(
        self,
        app_settings: Settings,
        consumer: Consumer,
        producer: Producer,
        *,
        max_in_flight: int = 32,
        poll_interval_s: float = 0.5,
        health: HealthReporter | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_settings = app_settings
        self.consumer = consumer
        self.producer = producer
        self.tracker = OffsetTracker(consumer)
        self.max_in_flight = max_in_flight
        self.poll_interval_s = poll_interval_s
        self.recent: OrderedDict[str, None] = OrderedDict()
        self.counts: dict[str, int] = {"articles": 0, "failures": 0, "skipped": 0}
        self._timer: task.LoopingCall | None = None
        self.health = health
        self._reported: tuple[float, dict[str, int]] = (0.0, {})

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ArticleSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._opened, signal=signals.spider_opened)
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        crawler.signals.connect(spider._idle, signal=signals.spider_idle)
        crawler.signals.connect(spider._dropped, signal=signals.request_dropped)
        return spider

    async def start(self) -> AsyncIterator[Any]:  # requests come from the bus, not from here
        return
        yield  # pragma: no cover

    # -- bus side ------------------------------------------------------------------------------
    def _opened(self, spider: scrapy.Spider) -> None:
        self.consumer.subscribe([self.app_settings.topic_news])
        self._timer = task.LoopingCall(self.poll_bus)
        self._timer.start(self.poll_interval_s, now=True).addErrback(self._poll_failed)

    def _poll_failed(self, failure: Failure) -> None:
        log.error("articles.poll_failed", error=str(failure.value))
        if self.crawler.engine is not None:  # stop: the supervisor restarts the process
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="bus poll failed"))

    def _closed(self, spider: scrapy.Spider, reason: str) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self.tracker.commit()
        log.info("articles.closed", reason=reason, **self.counts)

    def _idle(self, spider: scrapy.Spider) -> None:
        raise DontCloseSpider

    def _dropped(self, request: scrapy.Request, spider: scrapy.Spider) -> None:
        kw = request.cb_kwargs
        if "tp" in kw:  # never silently: a dropped request still finishes its message
            self.finished(kw["tp"], kw["offset"])

    def poll_bus(self) -> None:
        """Read what the bus has (without waiting), schedule page requests, commit offsets."""
        room = self.max_in_flight - self.tracker.in_flight
        if room > 0 and self.crawler.engine is not None:
            for m in self.consumer.poll(0.0, max_messages=room):
                self.tracker.start(m.tp, m.offset)
                request = self._request_for(parse_event(m.value, source=m.topic), m.tp, m.offset)
                if request is None:
                    self.counts["skipped"] += 1
                    self.tracker.done(m.tp, m.offset)
                else:
                    self.crawler.engine.crawl(request)
        self.tracker.commit()
        self._report()

    def _report(self) -> None:
        """Health of the stage (pages fetched, failures), at most every 30 s."""
        at, last = self._reported
        now = time.monotonic()
        if self.health is None or now - at < HEALTH_EVERY_S or last == self.counts:
            return
        new = self.counts["articles"] - last.get("articles", 0)
        self.health.up(items=new, detail=", ".join(f"{k} {v}" for k, v in self.counts.items()))
        self._reported = (now, dict(self.counts))

    def _request_for(self, ev: object, tp: TopicPartition, offset: int) -> scrapy.Request | None:
        if not isinstance(ev, NewsItem) or not wants_page(ev) or ev.id in self.recent:
            return None
        self.recent[ev.id] = None
        while len(self.recent) > RECENT_KEEP:
            self.recent.popitem(last=False)
        return scrapy.Request(
            ev.url,
            callback=self.parse_page,
            errback=self.failed,
            cb_kwargs={"item": ev, "tp": tp, "offset": offset},
            dont_filter=True,  # our own dedup by article id; Scrapy's would drop silently
        )

    def finished(self, tp: TopicPartition, offset: int) -> None:
        self.tracker.done(tp, offset)

    def stats_add(self, what: str) -> None:
        self.counts[what] += 1

    # -- page side -----------------------------------------------------------------------------
    def _letter(self, item: NewsItem, reason: str, payload: str = "") -> DeadLetter:
        return DeadLetter(
            stage="article",
            source=f"{item.source} {item.url}"[:200],
            reason=reason[:2000],
            payload=payload or item.model_dump_json()[:100_000],
        )

    def parse_page(
        self, response: Response, item: NewsItem, tp: TopicPartition, offset: int
    ) -> Iterator[Outcome]:
        ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        if not isinstance(response, TextResponse) or not is_html(ctype):
            reason = f"not HTML: content type {ctype or 'missing'!r} ({response.url})"
            yield Outcome(self._letter(item, reason), tp, offset)
            return
        try:
            article = extract_article(response.text, response.url)
        except Exception as exc:  # a page that breaks the extractor is one dead letter
            article = None
            reason = f"extraction failed: {type(exc).__name__}: {exc}"
        else:
            reason = "no article text found on the page"
        if article is None:
            yield Outcome(self._letter(item, f"{reason} ({response.url})"), tp, offset)
            return
        yield Outcome(enriched(item, article), tp, offset)

    def failed(self, failure: Failure) -> Iterator[Outcome]:
        request = failure.request  # type: ignore[attr-defined]
        kw = request.cb_kwargs
        exc = failure.value
        if isinstance(exc, HttpError):
            reason = f"HTTP {exc.response.status} ({request.url})"
        else:
            reason = f"{type(exc).__name__}: {exc} ({request.url})"
        yield Outcome(self._letter(kw["item"], reason), kw["tp"], kw["offset"])

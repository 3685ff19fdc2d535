"""The item pipeline: every outcome of a page (the enriched article or a dead letter) is
produced to the bus through the ``Producer`` interface, flushed, and only then marked done
(so its offset may be committed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from btcpulse.bus.base import TopicPartition
from btcpulse.events import DeadLetter, NewsItem, encode
from btcpulse.timeutil import to_epoch_us

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from .spider import ArticleSpider

log = structlog.get_logger("articles")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one bus message: its article with the page's text, or why not."""

    event: NewsItem | DeadLetter
    tp: TopicPartition
    offset: int


class BusPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BusPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Outcome):
            return item
        spider: ArticleSpider = self.crawler.spider  # type: ignore[assignment]
        s, producer = spider.app_settings, spider.producer
        ev = item.event
        if isinstance(ev, NewsItem):
            producer.produce(
                s.topic_news,
                encode(ev),
                key=ev.id.encode(),
                timestamp_ms=to_epoch_us(ev.published_at) // 1000,
            )
            spider.stats_add("articles")
        else:
            producer.produce(s.topic_deadletters, encode(ev), key=ev.error_id.encode())
            spider.stats_add("failures")
            log.info("articles.failed", source=ev.source, reason=ev.reason)
        if producer.flush() != 0:
            raise RuntimeError("the bus did not take the article stage's output")
        spider.finished(item.tp, item.offset)
        return item

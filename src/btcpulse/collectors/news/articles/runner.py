"""Run the article stage: a Scrapy crawler process of its own (its reactor never shares another
component's event loop), fed from and producing to the bus."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from btcpulse.config import Settings

ARTICLES_GROUP = "articles"


@dataclass(frozen=True)
class CrawlOptions:
    group: str = ARTICLES_GROUP
    max_bytes: int = 5 * 1024 * 1024
    timeout_s: float | None = None  # default: Settings.http_timeout_s
    delay_s: float = 1.0
    per_domain: int = 2
    retries: int = 1


# The article stage is a processing stage, not a live source: its health must never count as
# "a live source answers" (that pauses the offline replay).
HEALTH_KIND = "stage"


def scrapy_settings(s: Settings, o: CrawlOptions) -> dict[str, Any]:
    """Polite crawling: robots.txt obeyed, a clear User-Agent, timeouts, a size cap, few
    retries, modest concurrency per site with AutoThrottle."""
    return {
        "BOT_NAME": "btcpulse",
        "USER_AGENT": s.user_agent,
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_TIMEOUT": o.timeout_s if o.timeout_s is not None else s.http_timeout_s,
        "DOWNLOAD_MAXSIZE": o.max_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_ENABLED": o.retries > 0,
        "RETRY_TIMES": o.retries,
        "REDIRECT_MAX_TIMES": 5,
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": o.per_domain,
        "DOWNLOAD_DELAY": o.delay_s,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": max(o.delay_s, 0.01),
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "COOKIES_ENABLED": False,  # articles need none (and no public-suffix list look-up)
        "TELNETCONSOLE_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "btcpulse.collectors.news.articles.robots.SharedRobotsTxtMiddleware": 100,
        },
        "ITEM_PIPELINES": {"btcpulse.collectors.news.articles.pipelines.BusPipeline": 100},
        "LOG_LEVEL": "DEBUG" if s.log_level.upper() == "DEBUG" else "WARNING",
    }


def run_articles(s: Settings, o: CrawlOptions) -> int:
    """Crawl until SIGTERM/SIGINT (Scrapy's own graceful shutdown); return an exit code."""
    from scrapy.crawler import CrawlerProcess

    from btcpulse.bus.factory import open_bus
    from btcpulse.collectors.health import HealthReporter
    from btcpulse.store.db import Store

    from .spider import ArticleSpider

    store = Store.from_settings(s)
    store.migrate()
    bus = open_bus(s)
    consumer, producer = bus.consumer(o.group), bus.producer()
    process = CrawlerProcess(scrapy_settings(s, o), install_root_handler=False)
    process.crawl(
        ArticleSpider,
        app_settings=s,
        consumer=consumer,
        producer=producer,
        health=HealthReporter(store, "articles", HEALTH_KIND),
    )
    try:
        process.start()
    finally:
        producer.close()
        consumer.close()
        store.dispose()
    return 0


def spawn_articles_process(
    settings: Settings, *extra_args: str, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start ``btcpulse collect articles`` as a child process with these settings' data
    folder, bus and store (the poller CLI and tests call this; ``up`` supervises it)."""
    from btcpulse.supervisor import _die_with_parent

    env = dict(popen.pop("env", None) or os.environ)
    env.update(
        BTCPULSE_DATA_DIR=str(settings.data_dir),
        BTCPULSE_BUS_PATH=str(settings.resolved_bus_path),
        BTCPULSE_STORE_URL=settings.resolved_store_url,
        BTCPULSE_TOPIC_NEWS=settings.topic_news,
        BTCPULSE_TOPIC_DEADLETTERS=settings.topic_deadletters,
        BTCPULSE_USER_AGENT=settings.user_agent,
        BTCPULSE_HTTP_TIMEOUT_S=str(settings.http_timeout_s),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "btcpulse", "collect", "articles", *extra_args],
        env=env,
        preexec_fn=_die_with_parent,
        **popen,
    )

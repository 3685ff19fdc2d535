"""``btcpulse collect articles``: the Scrapy article stage (its own process and reactor)."""

from __future__ import annotations

from typing import Annotated

import typer


def collect_articles(
    group: Annotated[str, typer.Option(help="Bus consumer group of the stage.")] = "articles",
    max_bytes: Annotated[
        int, typer.Option(help="Pages larger than this are abandoned (dead letter).")
    ] = 5 * 1024 * 1024,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds per page download (default: BTCPULSE_HTTP_TIMEOUT_S)."),
    ] = None,
    delay: Annotated[
        float, typer.Option(help="Seconds between two requests to one site (AutoThrottle).")
    ] = 1.0,
    retries: Annotated[int, typer.Option(help="Retries of a failed page (5xx, timeout).")] = 1,
) -> None:
    """Follow new feed items on the bus to their article pages (robots.txt obeyed); produce the
    full text, author and published time back to the bus, failures as dead letters."""
    from btcpulse.cli import _settings
    from btcpulse.collectors.news.articles.runner import CrawlOptions, run_articles

    options = CrawlOptions(
        group=group, max_bytes=max_bytes, timeout_s=timeout, delay_s=delay, retries=retries
    )
    raise typer.Exit(run_articles(_settings(), options))

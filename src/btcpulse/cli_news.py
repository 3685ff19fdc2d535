"""``btcpulse collect news``: run the news pollers, or poll once and say what came back."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Annotated

import typer


def collect_news(
    once: Annotated[
        bool, typer.Option("--once", help="Poll each source once, print a summary, exit.")
    ] = False,
    feed: Annotated[
        list[str] | None,
        typer.Option(
            "--feed",
            help="Poll this URL (or NAME=URL) instead of the registry; kind guessed from the "
            "URL (Reddit .json, hn.algolia.com, CryptoPanic API, else RSS/Atom). Repeatable.",
        ),
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Only this registry source (by name). Repeatable."),
    ] = None,
    articles: Annotated[
        bool,
        typer.Option(
            help="Also run the Scrapy article stage (full text of new items) in a child process."
        ),
    ] = True,
) -> None:
    """Poll the news sources (registry: outlets' RSS/Atom, Reddit, Hacker News, CryptoPanic
    with a token) into the bus. Exit code with --once: 0 if any source answered, else 1."""
    from btcpulse.bus.factory import open_bus
    from btcpulse.cli import _run_async, _settings, _store
    from btcpulse.collectors.news.credentials import with_stored_tokens
    from btcpulse.collectors.news.poller import poll_sources_once, run_sources
    from btcpulse.collectors.news.registry import (
        RegistryError,
        Source,
        adhoc_source,
        load_sources,
        select_sources,
    )

    s = _settings()
    try:
        if feed:
            sources: list[Source] = []
            for spec in feed:
                x = adhoc_source(spec, s)
                taken = {y.name for y in sources}
                n = 2
                while x.name in taken:  # two feeds of one host
                    x = x.model_copy(update={"name": f"{adhoc_source(spec, s).name}-{n}"})
                    n += 1
                sources.append(x)
        else:
            sources = load_sources(s)
            if source:
                sources = select_sources(sources, source)
    except (RegistryError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    store = _store(s)
    sources = with_stored_tokens(sources, store, s)  # API tokens from the secret store
    producer = open_bus(s).producer()
    if not once:
        spider = None
        if articles:
            from btcpulse.collectors.news.articles.runner import spawn_articles_process

            spider = spawn_articles_process(s)
        try:
            _run_async(lambda stop: run_sources(sources, s, producer, store, stop))
        finally:
            if spider is not None:
                try:  # a Ctrl-C reached its process group too: let it finish by itself
                    spider.wait(5)
                except subprocess.TimeoutExpired:
                    spider.terminate()
                    spider.wait(30)
        return
    active = [x for x in sources if x.active]
    width = max((len(x.name) for x in sources), default=10)
    for x in sources:
        if not x.active:
            typer.echo(f"{x.name:<{width}}  off: {x.off_reason}")
    if not active:
        typer.echo("no active news source", err=True)
        raise typer.Exit(1)
    outcomes = asyncio.run(poll_sources_once(active, s, producer, store))
    for o in outcomes:
        typer.echo(f"{o.source:<{width}}  {o.summary()}  [{o.took_s:.2f} s]")
    answered = sum(o.ok for o in outcomes)
    typer.echo(
        f"total: {sum(o.new for o in outcomes)} new items "
        f"({sum(o.parsed for o in outcomes)} parsed) from {answered}/{len(outcomes)} sources"
    )
    raise typer.Exit(0 if answered else 1)

"""The ``btcpulse`` command line."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from btcpulse.cli_articles import collect_articles
from btcpulse.cli_backfill import backfill, first_start_args
from btcpulse.cli_docs import docs
from btcpulse.cli_export import export
from btcpulse.cli_news import collect_news
from btcpulse.cli_prices import collect_prices, fake_exchange
from btcpulse.cli_reprocess import reprocess
from btcpulse.cli_secrets import secrets_app
from btcpulse.cli_sentiment import sentiment_app
from btcpulse.cli_spark import spark_app
from btcpulse.config import Settings

if TYPE_CHECKING:
    from btcpulse.store.db import Store

app = typer.Typer(
    help="btcpulse: real-time Bitcoin news and price analytics.",
    no_args_is_help=True,
    add_completion=False,
)
collect_app = typer.Typer(help="Run a live collector (producer).", no_args_is_help=True)
app.add_typer(collect_app, name="collect")
collect_app.command("news")(collect_news)
collect_app.command("articles")(collect_articles)
collect_app.command("prices")(collect_prices)
app.command("fake-exchange")(fake_exchange)
app.command("backfill")(backfill)
app.add_typer(sentiment_app, name="sentiment", help="Score headlines; evaluate on a labelled CSV.")
app.add_typer(spark_app, name="spark")
app.add_typer(secrets_app, name="secrets")
app.command("export")(export)
app.command("reprocess")(reprocess)
app.command("docs")(docs)


def _settings() -> Settings:
    from btcpulse.logs import configure, store_sink

    s = Settings()
    configure(s.log_level, s.log_json, store_sink(s))
    return s


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _store(s: Settings) -> Store:
    from btcpulse.store.db import Store

    store = Store.from_settings(s)
    store.migrate()
    return store


def _run_async(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run an async collector until SIGTERM/SIGINT sets its stop event."""

    async def runner() -> None:
        astop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, astop.set)
        await main(astop)

    asyncio.run(runner())


class RunMode(StrEnum):
    embedded = "embedded"
    distributed = "distributed"


@app.command()
def up(
    replay: Annotated[
        Path | None, typer.Option(help="Replay bundle folder (default: from settings).")
    ] = None,
    live: Annotated[bool, typer.Option(help="Start the live collectors.")] = True,
    mode: Annotated[
        RunMode | None,
        typer.Option(help="embedded, or distributed: Kafka, Spark and PostgreSQL from settings."),
    ] = None,
) -> None:
    """Run everything: collectors, replay, engine and web app, supervised."""
    from btcpulse.supervisor import Supervisor

    if mode is not None:
        os.environ["BTCPULSE_MODE"] = mode.value  # the children read the same settings
    s = _settings()
    store = _store(s)
    bundle = replay or s.replay_path
    children: dict[str, list[str]] = {"engine": ["process"], "web": ["serve"]}
    if s.mode == "distributed":
        from btcpulse.bus.factory import bus_topics, log_retention_ms
        from btcpulse.bus.kafka import KafkaBus

        KafkaBus.from_settings(s).create_topics(bus_topics(s), retention_ms=log_retention_ms(s))
        children["engine"] = ["spark", "job"]
    if live and s.live_sources:
        children["news"] = ["collect", "news", "--no-articles"]  # its own child below
        children["articles"] = ["collect", "articles"]
        children["prices"] = ["collect", "prices"]
        if (history := first_start_args(s, store)) is not None:
            children["backfill"] = history  # one-shot: history on day one
    if s.replay_mode != "off" and bundle.is_dir():
        gate = s.replay_mode if (live and s.live_sources) else "always"
        children["replay"] = ["replay", str(bundle), "--speed", str(s.replay_speed), "--mode", gate]
    typer.echo(f"btcpulse up: dashboard at http://{s.host}:{s.port}  (Ctrl-C stops)")
    raise typer.Exit(Supervisor(store, children, oneshot={"backfill"}).run())


@app.command()
def serve() -> None:
    """Run the web app (REST API, WebSocket push, dashboard)."""
    import uvicorn

    from btcpulse.web.app import create_app

    s = _settings()
    _store(s).dispose()
    uvicorn.run(
        create_app(s),
        host=s.host,
        port=s.port,
        log_level="warning",
        log_config=None,  # uvicorn's loggers propagate to ours: its errors reach the logs table
        access_log=False,
        timeout_graceful_shutdown=5,
    )


@app.command()
def process() -> None:
    """Run the embedded engine: consume the bus, compute analytics, store and publish."""
    # Micro-batches are small: one polars thread is faster than a pool (measured in bench/).
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    from btcpulse.analytics.sentiment import make_scorer
    from btcpulse.bus.factory import open_bus
    from btcpulse.engines.embedded import EmbeddedEngine

    s = _settings()
    stop = _stop_on_signals()
    bus = open_bus(s)
    engine = EmbeddedEngine(
        s, _store(s), bus.consumer(s.engine_group), bus.producer(), make_scorer(s.sentiment_model)
    )
    engine.run(stop)


class ReplayMode(StrEnum):
    always = "always"
    when_offline = "when-offline"


@app.command()
def replay(
    path: Annotated[
        Path, typer.Argument(help="Folder with the recorded feed (*.xml) and bars (*.csv).")
    ],
    speed: Annotated[
        float | None,
        typer.Option(help="Recorded seconds per second after the history, 1-60 [default: 10]."),
    ] = None,
    loop: Annotated[bool, typer.Option(help="Loop the recording forever.")] = True,
    mode: Annotated[
        ReplayMode, typer.Option(help="'when-offline' pauses while a live source answers.")
    ] = ReplayMode.always,
) -> None:
    """Play recorded real data, shifted so that it ends now, labelled REPLAY."""
    from btcpulse.bus.factory import open_bus
    from btcpulse.collectors.replay.bundle import load_bundle
    from btcpulse.collectors.replay.player import ReplayPlayer, live_sources_answer

    s = _settings()
    store = _store(s)
    stop = _stop_on_signals()
    player = ReplayPlayer(
        load_bundle(path),
        s,
        open_bus(s).producer(),
        store,
        speed=speed if speed is not None else s.replay_speed,
        loop=loop,
        paused=(lambda: live_sources_answer(store)) if mode is ReplayMode.when_offline else None,
    )
    player.run(stop, progress=sys.stderr.isatty())


@app.command()
def migrate() -> None:
    """Create or upgrade the store's schema."""
    s = _settings()
    _store(s).dispose()
    typer.echo(f"schema up to date: {s.store_url_for_display}")


@app.command()
def doctor() -> None:
    """Check configuration, store, bus and bundled files; exit non-zero on any failure."""
    from btcpulse.doctor import run_checks

    raise typer.Exit(run_checks(_settings()))

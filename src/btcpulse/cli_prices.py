"""``btcpulse collect prices`` (exchange WebSocket collectors) and ``btcpulse fake-exchange``
(the local fake venue used by the tests, for demos)."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class VenueName(StrEnum):
    coinbase = "coinbase"
    binance = "binance"
    kraken = "kraken"
    bitstamp = "bitstamp"


def collect_prices(
    venue: Annotated[
        list[VenueName] | None,
        typer.Option(
            "--venue", help="Exchange to stream (repeatable). Default: BTCPULSE_PRICE_VENUES."
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="WebSocket URL to connect to instead (one --venue only)."),
    ] = None,
    rest_url: Annotated[
        str | None,
        typer.Option("--rest-url", help="REST base URL for backfills (one --venue only)."),
    ] = None,
    symbol: Annotated[
        list[str] | None,
        typer.Option("--symbol", help="Normalised symbol, e.g. BTC-USD (repeatable)."),
    ] = None,
) -> None:
    """Stream live trades from the exchanges' WebSockets into the bus: reconnects with
    backoff, backfills missed trades from REST, records malformed frames as dead letters."""
    from btcpulse.bus.factory import open_bus
    from btcpulse.cli import _run_async, _settings, _store
    from btcpulse.collectors.prices.venues import collector

    s = _settings()
    names = [str(v) for v in venue] if venue else list(s.price_venues)
    if (url or rest_url) and len(names) != 1:
        typer.echo("error: --url/--rest-url need exactly one --venue", err=True)
        raise typer.Exit(2)
    store = _store(s)
    producer = open_bus(s).producer()
    collectors = [
        collector(n, s, producer, store, ws_url=url, rest_url=rest_url, symbols=symbol)
        for n in names
    ]
    if not collectors:
        typer.echo("no price venue configured (BTCPULSE_PRICE_VENUES)", err=True)
        raise typer.Exit(1)

    async def run_all(stop: asyncio.Event) -> None:
        await asyncio.gather(*(c.run(stop) for c in collectors))

    _run_async(run_all)


def fake_exchange(
    venue: Annotated[VenueName, typer.Option("--venue", help="Protocol to speak.")],
    port: Annotated[int, typer.Option(help="Port (WebSocket and REST on the same port).")] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    replay: Annotated[
        Path | None,
        typer.Option(help="Replay the received frames of a cryptofeed .jsonl recording."),
    ] = None,
    trades: Annotated[int, typer.Option(help="Synthetic BTC trades (without --replay).")] = 100_000,
    rate: Annotated[float, typer.Option(help="Frames per second.")] = 20.0,
    symbol: Annotated[str, typer.Option(help="Symbol of the synthetic tape.")] = "BTC-USD",
    cut_after: Annotated[
        int | None, typer.Option(help="Cut every connection after this many trade frames.")
    ] = None,
    missed: Annotated[int, typer.Option(help="Trades that happen unseen after a cut.")] = 0,
    skip_every: Annotated[
        int | None, typer.Option(help="Drop every Nth frame (a sequence gap).")
    ] = None,
    garbage_every: Annotated[
        int | None, typer.Option(help="Send a garbage frame after every Nth frame.")
    ] = None,
    lag: Annotated[float, typer.Option(help="Extra seconds before every frame.")] = 0.0,
) -> None:
    """Run a local fake exchange speaking one venue's protocol (for demos and tests):
    point ``btcpulse collect prices --venue V --url ws://... --rest-url http://...`` at it."""
    from btcpulse.testing.fake_exchange import (
        FakeExchange,
        Faults,
        recorded_frames,
        synthetic_tape,
    )

    n = len(recorded_frames(replay)) if replay else trades
    faults = Faults(
        cut_after={k: cut_after for k in range(10_000)} if cut_after else {},
        missed_on_cut=missed,
        skip={i for i in range(n) if skip_every and i % skip_every == skip_every - 1},
        garbage={i: '{"garbage": ' for i in range(n) if garbage_every and i % garbage_every == 0},
        lag_s=lag,
    )
    fake = FakeExchange(
        venue=str(venue),
        symbol=symbol,
        tape=[] if replay else synthetic_tape(trades, step_ms=max(1, int(1000 / rate))),
        frames=recorded_frames(replay) if replay else [],
        faults=faults,
        interval_s=1.0 / rate,
        host=host,
        port=port,
    )

    async def main() -> None:
        async with fake:
            typer.echo(f"fake {venue}: ws {fake.ws_url}  rest {fake.rest_url}  (Ctrl-C stops)")
            await asyncio.Event().wait()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass

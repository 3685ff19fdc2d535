"""``btcpulse backfill``: venue candles from a public REST API into the bus, with progress;
and the decision of ``btcpulse up`` to run it once on first start."""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from btcpulse.collectors.history.backfill import Page
    from btcpulse.config import Settings
    from btcpulse.store.db import Store


class HistoryVenue(StrEnum):
    coinbase = "coinbase"
    binance = "binance"


def backfill(
    days: Annotated[
        int | None, typer.Option("--days", min=0, help="Days of 1-minute bars [default: 30].")
    ] = None,
    daily_years: Annotated[
        int | None,
        typer.Option("--daily-years", min=0, help="Years of daily bars [default: 5]."),
    ] = None,
    venue: Annotated[
        HistoryVenue | None,
        typer.Option("--venue", help="Venue REST format [default: BTCPULSE_BACKFILL_VENUE]."),
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="REST base URL (default: the venue's API).")
    ] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", help="Normalised symbol, e.g. BTC-USD.")
    ] = None,
    page: Annotated[
        int | None, typer.Option("--page", min=2, help="Candles per request (≤ venue maximum).")
    ] = None,
    progress: Annotated[
        bool | None, typer.Option(help="Show a progress bar [default: on a terminal].")
    ] = None,
) -> None:
    """Load venue candles (1-minute bars for recent days, daily bars for years) into the bus
    as Bar events: paginated, rate-limit aware, resumable; a second run loads nothing twice."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from btcpulse.bus.factory import open_bus
    from btcpulse.cli import _settings, _store
    from btcpulse.collectors.history.backfill import Backfill
    from btcpulse.collectors.history.client import HistoryError

    s = _settings()
    store = _store(s)
    err = Console(stderr=True)
    show = sys.stderr.isatty() if progress is None else progress
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[pages]} pages, {task.fields[bars]} bars"),
        TimeElapsedColumn(),
        console=err,
        disable=not show,
    )
    tasks: dict[int, TaskID] = {}

    def on_page(p: Page) -> None:
        job = p.job
        if job.interval_s not in tasks:
            tasks[job.interval_s] = bars.add_task(
                f"{job.label} bars", total=job.total, pages=0, bars=0
            )
        done = (p.next_s - job.start_s) // job.interval_s
        bars.update(tasks[job.interval_s], completed=done, pages=p.pages, bars=p.bars)

    name = str(venue) if venue else s.backfill_venue
    runner = Backfill(
        s,
        open_bus(s).producer(),
        store,
        venue=name,
        base_url=url or s.backfill_url,
        symbol=symbol or s.backfill_symbol,
        page=page,
        on_page=on_page,
    )
    try:
        with bars:
            summary = asyncio.run(
                runner.run(
                    s.backfill_days if days is None else days,
                    s.backfill_daily_years if daily_years is None else daily_years,
                )
            )
    except HistoryError as exc:
        typer.echo(f"error: backfill from {runner.base_url} failed: {exc}", err=True)
        typer.echo("recorded in health and errors; run again to resume where it stopped", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted; run again to resume where it stopped", err=True)
        raise typer.Exit(130) from None
    typer.echo(summary.line())


def first_start_args(s: Settings, store: Store) -> list[str] | None:
    """The ``backfill`` child ``up`` starts: only until one backfill has completed."""
    from btcpulse.collectors.history.backfill import backfill_completed

    if not s.backfill_on_start or (s.backfill_days == 0 and s.backfill_daily_years == 0):
        return None
    if backfill_completed(store, s.backfill_venue, s.backfill_symbol):
        return None
    return ["backfill", "--no-progress"]

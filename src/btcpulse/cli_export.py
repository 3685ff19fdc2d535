"""``btcpulse export``: a range of candles, news or the sentiment index to a CSV/Parquet file."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class What(StrEnum):
    candles = "candles"
    news = "news"
    analytics = "analytics"


class FileFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


def _aware(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=name) from exc
    if parsed.tzinfo is None:
        raise typer.BadParameter("needs a UTC offset, e.g. 2026-01-01T00:00Z", param_hint=name)
    return parsed


def export(
    kind: Annotated[What, typer.Argument(help="candles, news or analytics (the index).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write [default: a name from the range]."),
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start, ISO 8601 with offset [default: 24 h ago].")
    ] = None,
    to: Annotated[
        str | None, typer.Option(help="End, ISO 8601 with offset [default: now].")
    ] = None,
    fmt: Annotated[FileFormat, typer.Option("--format", help="csv or parquet.")] = FileFormat.csv,
    venue: Annotated[str | None, typer.Option(help="Venue (candles), e.g. coinbase.")] = None,
    symbol: Annotated[str, typer.Option(help="Symbol (candles).")] = "BTC-USD",
    resolution: Annotated[
        str, typer.Option(help="Candle resolution: 1s, 5s, 1m, 5m, 15m, 1h, 4h or 1d.")
    ] = "1m",
    replay: Annotated[bool, typer.Option(help="Replayed data instead of live (index).")] = False,
) -> None:
    """Write a range of the store to a file, streamed (memory stays flat on any range)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from btcpulse.analytics.sentiment import model_version
    from btcpulse.cli import _settings, _store
    from btcpulse.store.export import ExportQuery, Frames, batches, to_csv, to_parquet
    from btcpulse.timeutil import utcnow
    from btcpulse.web.api_export import resolution_seconds

    hi = _aware("--to", to) or utcnow()
    lo = _aware("--from", from_) or hi - timedelta(days=1)
    if hi <= lo:
        raise typer.BadParameter("--from must be before --to")
    if kind is What.candles and not venue:
        raise typer.BadParameter("candles need --venue (see /api/v1/venues)")
    try:
        res = resolution_seconds(resolution)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--resolution") from exc
    s = _settings()
    store = _store(s)
    q = ExportQuery(
        kind=kind.value,
        lo=int(lo.timestamp()),
        hi=int(hi.timestamp()) + 1,
        venue=venue,
        symbol=symbol,
        resolution_s=res,
        replay=replay,
        model_version=model_version(s.sentiment_model),
    )
    path = output or Path(q.filename(fmt.value))
    rows = 0

    with Progress(
        TextColumn("[bold]export[/] {task.description}"),
        BarColumn(bar_width=None),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        disable=not sys.stderr.isatty(),
        transient=False,
    ) as progress:
        task = progress.add_task(f"{kind.value} → {path}", total=None)

        def counted() -> Frames:
            nonlocal rows
            for batch in batches(store, q):
                rows += batch.height
                progress.update(task, completed=rows)
                yield batch

        encode = to_csv if fmt is FileFormat.csv else to_parquet
        tmp = path.with_name(path.name + ".part")
        with tmp.open("wb") as f:
            for chunk in encode(q.kind, counted()):
                f.write(chunk)
        tmp.replace(path)
    store.dispose()
    typer.echo(f"wrote {rows:,} rows to {path}")

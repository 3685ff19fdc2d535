"""``btcpulse reprocess``: re-run enrichment and the derived analytics after a model change."""

from __future__ import annotations

import sys
from typing import Annotated

import typer


def reprocess(
    since: Annotated[
        str, typer.Option(help="From this time (ISO 8601 with offset, e.g. 2026-11-01T00:00Z).")
    ],
    until: Annotated[str | None, typer.Option(help="Up to this time [default: now].")] = None,
) -> None:
    """Re-score and re-tag the stored articles the current models did not make, then recompute
    bursts, the sentiment index, impact and alerts over their days. Safe to run again: a second
    run finds nothing to redo."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    from btcpulse.analytics.alert_rules import parse_rules
    from btcpulse.analytics.sentiment import make_scorer
    from btcpulse.cli import _settings, _store
    from btcpulse.cli_export import _aware
    from btcpulse.engines.reprocess import reprocess as run
    from btcpulse.store.alert_rules import active_rules
    from btcpulse.timeutil import utcnow

    lo = _aware("--since", since)
    hi = _aware("--until", until) or utcnow()
    assert lo is not None
    if hi <= lo:
        raise typer.BadParameter("--since must be before --until")
    s = _settings()
    store = _store(s)
    scorer = make_scorer(s.sentiment_model)
    with store.read() as conn:
        rules = active_rules(conn, parse_rules(s.alert_rules))
    with Progress(
        TextColumn("[bold]reprocess[/] {task.description}"),
        BarColumn(bar_width=None),
        MofNCompleteColumn(),
        disable=not sys.stderr.isatty(),
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        out = run(store, scorer, rules, lo, hi, progress)
    store.dispose()
    typer.echo(
        f"model {scorer.version}: {out.articles:,} articles re-enriched, "
        f"{out.days:,} days of analytics recomputed ({out.index_rows:,} index values)"
    )

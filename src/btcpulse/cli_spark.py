"""``btcpulse spark``: the distributed engine (Spark Structured Streaming on a standalone
cluster, Kafka in, PostgreSQL out)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from btcpulse.config import Settings

spark_app = typer.Typer(
    help="Distributed engine: Spark cluster and streaming job (needs the 'distributed' extra).",
    no_args_is_help=True,
)


def _settings() -> Settings:
    from btcpulse.logs import configure, store_sink

    s = Settings()
    configure(s.log_level, s.log_json, store_sink(s))
    return s


@spark_app.command("topics")
def topics() -> None:
    """Create the Kafka topics (partitions from BTCPULSE_KAFKA_PARTITIONS, retention from
    BTCPULSE_RETENTION_LOG_DAYS); existing ones stay."""
    from btcpulse.bus.factory import bus_topics, log_retention_ms
    from btcpulse.bus.kafka import KafkaBus

    s = _settings()
    wanted = bus_topics(s)
    KafkaBus.from_settings(s).create_topics(wanted, retention_ms=log_retention_ms(s))
    days = s.retention_log_days
    kept = f", messages kept {days:g} days" if days > 0 else ""
    for name, n in wanted.items():
        typer.echo(f"{name}: {n} partition(s){kept}")


@spark_app.command("job")
def job() -> None:
    """Run the streaming job on BTCPULSE_SPARK_MASTER until SIGTERM (the checkpoint resumes it)."""
    from btcpulse.engines.spark.job import run

    run(_settings())


@spark_app.command("backfill")
def backfill(
    executors: Annotated[
        int, typer.Option(min=0, help="Wait for this many executors before starting.")
    ] = 0,
    hold: Annotated[
        bool,
        typer.Option(help="Wait for a stdin line before starting and for stdin EOF before exit."),
    ] = False,
) -> None:
    """Apply everything already in the input topics, then stop; print {messages, batches,
    seconds} as one JSON line (seconds: query start to end, session startup excluded)."""
    import json
    import sys

    from btcpulse.engines.spark.backfill import run_until_caught_up

    def ready() -> None:  # lets a benchmark sample the processes right before the query
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.readline()

    def done(result: dict[str, object]) -> None:  # ... and right after it, executors alive
        print(json.dumps(result), flush=True)
        sys.stdin.read()

    result = run_until_caught_up(
        _settings(),
        min_executors=executors,
        on_ready=ready if hold else None,
        before_stop=done if hold else None,
    )
    if not hold:
        typer.echo(json.dumps(result))


@spark_app.command("up")
def up(
    workers: Annotated[int, typer.Option(min=1, help="Workers to start.")] = 2,
    cores: Annotated[int, typer.Option(min=1, help="Cores per worker.")] = 1,
    memory: Annotated[str, typer.Option(help="Memory per worker.")] = "1g",
    logs: Annotated[Path | None, typer.Option(help="Log folder (default data_dir/spark).")] = None,
) -> None:
    """Start a standalone cluster (a master and N workers), then run the job on it."""
    from btcpulse.engines.spark.cluster import start_cluster
    from btcpulse.engines.spark.job import run

    s = _settings()
    folder = logs or s.data_dir / "spark"
    typer.echo(f"starting a Spark master and {workers} worker(s); logs in {folder}")
    cluster = start_cluster(folder, workers=workers, cores=cores, memory=memory)
    typer.echo(f"cluster up: {cluster.master_url} (web UI {cluster.webui})")
    try:
        run(s.model_copy(update={"spark_master": cluster.master_url}), threading.Event())
    finally:
        cluster.stop()

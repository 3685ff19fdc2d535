"""``btcpulse doctor``: every dependency checked, one line each, non-zero exit on failure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from btcpulse.config import Settings


def _store(s: Settings) -> str:
    from btcpulse.store.db import Store

    store = Store.from_settings(s)
    try:
        if not store.schema_is_current():
            raise RuntimeError("schema is not at the latest migration (run `btcpulse migrate`)")
        return f"{store.dialect} at {s.store_url_for_display}, schema current"
    finally:
        store.dispose()


def _bus(s: Settings) -> str:
    if s.mode == "distributed":
        from btcpulse.bus.factory import bus_topics
        from btcpulse.bus.kafka import KafkaBus

        kafka = KafkaBus.from_settings(s)
        brokers = kafka.ping()
        parts = {name: kafka.topic_partitions(name) for name in bus_topics(s)}
        return f"Kafka {s.kafka_bootstrap}: {brokers} broker(s); " + ", ".join(
            f"{k}={v}p" for k, v in parts.items()
        )
    from btcpulse.bus.embedded import topic_sizes

    sizes = topic_sizes(s.resolved_bus_path)
    return f"embedded log {s.resolved_bus_path}: " + (
        ", ".join(f"{k}={v}" for k, v in sorted(sizes.items())) or "empty"
    )


def _spark(s: Settings) -> str:
    if s.mode != "distributed":
        return "not used in embedded mode"
    import socket

    import pyspark  # the 'distributed' extra

    if s.spark_master.startswith("spark://"):
        host, _, port = s.spark_master.removeprefix("spark://").partition(":")
        with socket.create_connection((host, int(port or 7077)), timeout=3):
            pass
        return f"pyspark {pyspark.__version__}; master {s.spark_master} answers"
    return f"pyspark {pyspark.__version__}; master {s.spark_master}"


def _frontend(_s: Settings) -> str:
    from btcpulse.web.app import STATIC

    if not (STATIC / "index.html").is_file():
        raise FileNotFoundError(f"{STATIC / 'index.html'} missing (run `make frontend`)")
    return f"dashboard bundle in {STATIC}"


def _replay(s: Settings) -> str:
    from btcpulse.collectors.replay.bundle import load_bundle

    if s.replay_mode == "off":
        return "replay off"
    b = load_bundle(s.replay_path)
    return f"{len(b.records)} records, {b.start:%Y-%m-%d %H:%M} → {b.end:%Y-%m-%d %H:%M} UTC"


def _config(s: Settings) -> str:
    from btcpulse.collectors.news.registry import load_sources

    news = load_sources(s)  # also validates the user's sources file
    active = sum(x.active for x in news)
    on = f"{active}/{len(news)} news sources on"
    return f"mode={s.mode}, data_dir={s.data_dir}, {on}, port {s.port}"


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1_048_576:,.1f} MB"


def _sizes(s: Settings) -> str:
    from btcpulse.store.db import Store
    from btcpulse.store.sizes import table_sizes

    store = Store.from_settings(s)
    try:
        sizes = table_sizes(store)
        files = [Path(store.engine.url.database or "")] if store.dialect == "sqlite" else []
    finally:
        store.dispose()
    parts = [f"{x.name} {x.rows:,} rows {_mb(x.bytes)}" for x in sizes if x.rows]
    if s.mode == "embedded":
        files.append(s.resolved_bus_path)
    for path in files:
        if path.is_file():
            wal = path.with_name(path.name + "-wal")
            extra = wal.stat().st_size if wal.exists() else 0
            parts.append(f"file {path.name} {_mb(path.stat().st_size + extra)}")
    return "; ".join(parts) or "empty"


CHECKS: list[tuple[str, Callable[[Settings], str]]] = [
    ("config", _config),
    ("store", _store),
    ("sizes", _sizes),
    ("bus", _bus),
    ("spark", _spark),
    ("dashboard", _frontend),
    ("replay bundle", _replay),
]


def run_checks(s: Settings) -> int:
    table = Table("check", "result", "detail")
    failed = 0
    for name, check in CHECKS:
        try:
            table.add_row(name, "[green]ok[/]", check(s))
        except Exception as exc:  # a check that fails is reported, the others still run
            failed += 1
            table.add_row(name, "[red]FAILED[/]", f"{type(exc).__name__}: {exc}")
    Console().print(table)
    return 1 if failed else 0

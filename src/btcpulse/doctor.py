"""``btcpulse doctor``: every dependency checked, one line each, non-zero exit on failure."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from btcpulse.config import Settings


def _store(s: Settings) -> str:
    from btcpulse.store.db import Store

    store = Store(s.resolved_store_url)
    try:
        if not store.schema_is_current():
            raise RuntimeError("schema is not at the latest migration (run `btcpulse migrate`)")
        return f"{store.dialect} at {s.resolved_store_url}, schema current"
    finally:
        store.dispose()


def _bus(s: Settings) -> str:
    from btcpulse.bus.embedded import topic_sizes

    sizes = topic_sizes(s.resolved_bus_path)
    return f"embedded log {s.resolved_bus_path}: " + (
        ", ".join(f"{k}={v}" for k, v in sorted(sizes.items())) or "empty"
    )


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
    feeds = s.feeds()
    return f"mode={s.mode}, data_dir={s.data_dir}, {len(feeds)} feeds, port {s.port}"


CHECKS: list[tuple[str, Callable[[Settings], str]]] = [
    ("config", _config),
    ("store", _store),
    ("bus", _bus),
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

"""Reprocessing after a model change: every affected row rewritten once with the new version,
nothing duplicated, the index never mixing versions, and the result equal to processing the
same input from scratch with the new model.

Real components: the replay bundle through the embedded bus and engine into SQLite.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import REPLAY, child_env, drain_engine
from sqlalchemy import func, select

from btcpulse.analytics.alert_rules import parse_rules
from btcpulse.analytics.sentiment import make_scorer, model_version
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.collectors.replay.player import ReplayPlayer
from btcpulse.config import Settings
from btcpulse.engines.reprocess import reprocess
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.store.derived_queries import index_series

LO = datetime(2000, 1, 1, tzinfo=UTC)
ANCHOR = datetime.now(UTC).replace(second=0, microsecond=0)  # both runs replay the same times


def _run(settings: Settings) -> Store:
    store = Store(settings.resolved_store_url)
    store.migrate()
    bus = EmbeddedLog(settings.resolved_bus_path)
    player = ReplayPlayer(
        load_bundle(REPLAY), settings, bus.producer(), store, speed=60, clock=lambda: ANCHOR
    )
    while player.emit_due():
        pass
    drain_engine(settings, store, bus)
    return store


def _versions(store: Store) -> tuple[dict[str, int], dict[str, int]]:
    e, i = t.enrichments.c, t.index_values.c
    with store.read() as conn:
        enr = dict(
            conn.execute(select(e.model_version, func.count()).group_by(e.model_version)).all()
        )
        idx = dict(
            conn.execute(select(i.model_version, func.count()).group_by(i.model_version)).all()
        )
    return enr, idx


def _index(store: Store, version: str) -> list[tuple[int, float, int]]:
    with store.read() as conn:
        rows = index_series(conn, replay=True, lo=0, hi=2**40, model_version=version)
    return [(r["t"], round(r["value"], 9), r["n_news"]) for r in rows]


def test_reprocess_rewrites_once_and_equals_a_fresh_run(settings: Settings, tmp_path: Path) -> None:
    old, new = model_version("vader"), model_version("default")
    assert old != new
    store = _run(settings.model_copy(update={"sentiment_model": "vader"}))
    enr, idx = _versions(store)
    assert enr == {old: 50} and set(idx) == {old} and idx[old] > 1000
    assert _index(store, new) == []  # the new model's index is empty, not a mix

    seen: list[tuple[str, int, int]] = []
    hi = datetime.now(UTC) + timedelta(days=1)
    rules = parse_rules(settings.alert_rules)
    out = reprocess(store, make_scorer("default"), rules, LO, hi, lambda *a: seen.append(a))
    assert out.articles == 50 and out.days >= 3 and out.index_rows == idx[old]
    assert seen[-1][0] == "days" and seen[-1][1] == seen[-1][2] == out.days
    enr2, idx2 = _versions(store)
    assert enr2 == {new: 50}  # one sentiment row per article: the new model's
    assert idx2 == {new: idx[old]}  # every index value rewritten once, with the new version

    fresh = _run(settings.model_copy(update={"data_dir": tmp_path / "fresh"}))
    assert _index(store, new) == _index(fresh, new)

    again = reprocess(store, make_scorer("default"), rules, LO, hi)
    assert (again.articles, again.days) == (0, 0)  # nothing left to redo
    assert _versions(store) == (enr2, idx2)
    store.dispose()
    fresh.dispose()


def test_the_cli_reports_what_it_did(settings: Settings) -> None:
    _run(settings).dispose()
    res = subprocess.run(
        [sys.executable, "-m", "btcpulse", "reprocess", "--since", "2000-01-01T00:00Z"],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "0 articles re-enriched, 0 days" in res.stdout  # same model: nothing to redo
    bad = subprocess.run(
        [sys.executable, "-m", "btcpulse", "reprocess", "--since", "yesterday"],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr

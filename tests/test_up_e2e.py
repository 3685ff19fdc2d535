"""`btcpulse up` for real: replay → bus → engine → store → API; SIGKILL of everything at once,
restart, and a proof that nothing was lost or duplicated. Also: children die with the
supervisor, and SIGTERM stops everything cleanly."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import REPLAY, drain_engine, wait_for
from harness import Running
from sqlalchemy import func, select

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.config import Settings
from btcpulse.events import Bar, NewsItem, parse_event
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state

pytestmark = pytest.mark.slow
BUNDLE = load_bundle(REPLAY)
VENUE = "replay:binanceus"


def _cursor(store: Store) -> tuple[int, int]:
    with store.read() as conn:
        st = get_state(conn, "replay") or {"loop": 0, "index": 0}
    return int(st["loop"]), int(st["index"])


def _emitted(cursor: tuple[int, int]) -> int:
    loop, index = cursor
    return loop * len(BUNDLE.records) + index


def _group_alive(pgid: int) -> bool:
    """True while a process of the group still runs (zombies awaiting their reaper don't)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {
            "bars": conn.execute(select(func.count()).select_from(t.bars)).scalar_one(),
            "news": conn.execute(select(func.count()).select_from(t.news)).scalar_one(),
        }


def test_kill_everything_restart_nothing_lost_nothing_duplicated(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "up.log"
    store = Store(settings.resolved_store_url)
    up = Running(settings, log, BTCPULSE_REPLAY_SPEED="60")
    try:
        up.wait_ready()
        first = wait_for(
            lambda: (c := up.get(f"/api/v1/candles?venue={VENUE}"))["candles"] and c, 60, "candles"
        )
        assert first["replay"] is True
        wait_for(lambda: len(up.get("/api/v1/news?limit=100")["items"]) >= 50, 60, "news")
        wait_for(lambda: _cursor(store)[0] >= 1 and _cursor(store)[1] >= 10, 60, "live replay")
    finally:
        up.kill_all()
    wait_for(lambda: not _group_alive(up.proc.pid), 10, "every process of the group to be gone")
    killed_at = _cursor(store)

    again = Running(settings, log, BTCPULSE_REPLAY_SPEED="60")
    try:
        again.wait_ready()
        wait_for(lambda: _emitted(_cursor(store)) >= _emitted(killed_at) + 10, 60, "replay resumed")
        wait_for(lambda: again.get("/api/v1/health")["engine"]["lag"] == 0, 60, "engine caught up")
    finally:
        assert again.stop() == 0, again.log()
    wait_for(lambda: not _group_alive(again.proc.pid), 10, "a clean stop of every child")

    # Drain whatever the engine had not consumed when it was stopped (nothing is lost: the
    # bus still has it), then compare the store with the bus and with the replay cursor.
    bus = EmbeddedLog(settings.resolved_bus_path)
    drain_engine(settings, store, bus)

    consumer = bus.consumer("verify")
    consumer.subscribe([settings.topic_news, settings.topic_prices])
    on_bus: Counter[Any] = Counter()
    while msgs := consumer.poll(0.1, 50_000):
        for m in msgs:
            ev = parse_event(m.value)
            if isinstance(ev, NewsItem):
                on_bus[("news", ev.id)] += 1
            elif isinstance(ev, Bar):
                on_bus[("bar", int(ev.open_time.timestamp()))] += 1
    cursor = _cursor(store)
    emitted = _emitted(cursor)
    # the replay neither skipped nor repeated: distinct events on the bus = records emitted
    # (a record re-sent after the crash would carry the same id/time and collapse here)
    assert len(on_bus) == emitted
    n_news = sum(1 for k in on_bus if k[0] == "news")
    n_bars = len(on_bus) - n_news
    counts = _counts(store)
    assert counts == {"bars": n_bars, "news": n_news}, (counts, cursor)
    with store.read() as conn:
        stored_news = set(conn.execute(select(t.news.c.id)).scalars())
        stored_bars = set(
            conn.execute(select(t.bars.c.open_s).where(t.bars.c.venue == VENUE)).scalars()
        )
        assert stored_news == {k[1] for k in on_bus if k[0] == "news"}
        assert stored_bars == {k[1] for k in on_bus if k[0] == "bar"}
        # aggregates count every bar exactly once: each 15 m candle's volume = its bars' volume
        bar_vol = dict(
            conn.execute(
                select(
                    (t.bars.c.open_s - t.bars.c.open_s % 900).label("w"), func.sum(t.bars.c.volume)
                )
                .where(t.bars.c.venue == VENUE)
                .group_by("w")
            ).all()
        )
        candle_vol = dict(
            conn.execute(
                select(t.candles.c.start, t.candles.c.volume).where(
                    t.candles.c.venue == VENUE, t.candles.c.resolution_s == 900
                )
            ).all()
        )
    assert candle_vol.keys() == bar_vol.keys()
    assert all(abs(candle_vol[w] - bar_vol[w]) <= 1e-9 * bar_vol[w] for w in bar_vol)
    store.dispose()


def test_children_exit_when_the_supervisor_is_killed(settings: Settings, tmp_path: Path) -> None:
    up = Running(settings, tmp_path / "up.log")
    try:
        up.wait_ready()
        os.kill(up.proc.pid, signal.SIGKILL)  # only the supervisor
        up.proc.wait(10)
        wait_for(lambda: not _group_alive(up.proc.pid), 20, "children to exit after their parent")
    finally:
        up.kill_all()

"""The replay: history ending now, a time-lapse after it, labels, and restarts that neither
repeat nor skip."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from conftest import REPLAY

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.collectors.replay.player import ReplayPlayer
from btcpulse.config import Settings
from btcpulse.events import Bar, NewsItem, parse_event
from btcpulse.store.db import Store

BUNDLE = load_bundle(REPLAY)
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def _player(
    settings: Settings, store: Store, bus: EmbeddedLog, clock: FakeClock, speed: float = 60.0
) -> ReplayPlayer:
    return ReplayPlayer(BUNDLE, settings, bus.producer(), store, speed=speed, clock=clock)


def _drain(p: ReplayPlayer) -> int:
    total = 0
    while n := p.emit_due():
        total += n
    return total


def _events(settings: Settings, bus: EmbeddedLog) -> list[NewsItem | Bar]:
    c = bus.consumer("check")
    c.subscribe([settings.topic_news, settings.topic_prices])
    out = []
    while msgs := c.poll(0.05, 10_000):
        for m in msgs:
            ev = parse_event(m.value)
            assert isinstance(ev, NewsItem | Bar)
            out.append(ev)
    return out


def test_bundle_is_the_real_recording() -> None:
    news = [r for r in BUNDLE.records if isinstance(r.event, NewsItem)]
    bars = [r for r in BUNDLE.records if isinstance(r.event, Bar)]
    assert len(news) == 50 and len(bars) == 4150
    assert {r.event.source for r in news} == {"replay:coindesk"}
    assert {r.event.venue for r in bars} == {"replay:binanceus"}
    assert BUNDLE.start < BUNDLE.end


def test_history_ends_now_and_is_labelled(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    clock = FakeClock(START)
    # the whole history, plus loop 1's first record, due at the anchor itself
    assert _drain(_player(settings, store, bus, clock)) == len(BUNDLE.records) + 1
    evs = _events(settings, bus)
    evs = [e for e in evs if not (isinstance(e, NewsItem) and e.id.startswith("replay:1:"))]
    evs = [e for e in evs if isinstance(e, NewsItem) or e.open_time < START - timedelta(seconds=30)]
    assert len(evs) == len(BUNDLE.records)
    times = [e.published_at if isinstance(e, NewsItem) else e.open_time for e in evs]
    assert max(times) <= START
    assert max(times) >= START - timedelta(minutes=1)
    assert min(times) >= START - (BUNDLE.end - BUNDLE.start) - timedelta(minutes=1)
    news = [e for e in evs if isinstance(e, NewsItem)]
    assert all(n.id.startswith("replay:0:") and n.replay for n in news)
    # the real minute spacing is kept in the history
    bars = [e for e in evs if isinstance(e, Bar)]
    assert bars[1].open_time - bars[0].open_time == timedelta(minutes=1)


def test_time_lapse_then_restart_neither_repeats_nor_skips(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    clock = FakeClock(START)
    p = _player(settings, store, bus, clock)
    at_start = _drain(p) - len(BUNDLE.records)
    clock.t = START + timedelta(seconds=30)  # 30 s at 60x = 30 recorded minutes of loop 1
    first = _drain(p)
    assert 25 <= first <= 35
    # restart (a new process): it resumes from the saved cursor
    clock.t = START + timedelta(seconds=90)
    p2 = _player(settings, store, bus, clock)
    assert (p2.cursor.loop, p2.cursor.index) == (p.cursor.loop, p.cursor.index)
    second = _drain(p2)
    assert 55 <= second <= 65
    evs = [
        e
        for e in _events(settings, bus)
        if (
            e.id.startswith("replay:1:")
            if isinstance(e, NewsItem)
            else e.open_time > START - timedelta(seconds=30)
        )
    ]
    assert len(evs) == at_start + first + second
    bars = [e for e in evs if isinstance(e, Bar)]
    # consecutive recorded minutes, one second apart at 60x: nothing skipped, nothing twice
    gaps = {(b.open_time - a.open_time).total_seconds() for a, b in itertools.pairwise(bars)}
    assert gaps <= {1.0, 2.0, 3.0}  # the recording itself has a few missing minutes
    assert len({b.open_time for b in bars}) == len(bars)
    loop1_news = [e for e in evs if isinstance(e, NewsItem)]
    assert loop1_news and all(n.id.startswith("replay:1:") for n in loop1_news)
    assert all(START <= n.published_at <= clock.t for n in loop1_news)


def test_speed_change_on_restart_keeps_the_next_record_due_when_it_was(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    clock = FakeClock(START)
    p = _player(settings, store, bus, clock)
    _drain(p)
    clock.t = START + timedelta(seconds=10)
    _drain(p)
    due = p.due()
    p2 = _player(settings, store, bus, clock, speed=6.0)
    assert p2.due() == due


def test_speed_is_bounded(settings: Settings, store: Store, bus: EmbeddedLog) -> None:
    with pytest.raises(ValueError, match="speed"):
        _player(settings, store, bus, FakeClock(START), speed=600)


def test_only_a_live_source_that_answers_pauses_the_replay(store: Store) -> None:
    """Offline, the replay must keep playing: processes, the engine and the article stage
    being up is not a live source answering; one live news or price source is."""
    from btcpulse.collectors.news.articles.runner import HEALTH_KIND
    from btcpulse.collectors.replay.player import live_sources_answer
    from btcpulse.store.writes import put_health

    with store.begin() as conn:
        put_health(conn, "articles", kind=HEALTH_KIND, status="up", ok=True)
        put_health(conn, "engine", kind="engine", status="up", ok=True)
        put_health(conn, "process:news", kind="process", status="up", ok=True)
        put_health(conn, "coindesk", kind="news", status="down", error="offline")
    assert not live_sources_answer(store)
    with store.begin() as conn:
        put_health(conn, "kraken", kind="prices", status="up", ok=True)
    assert live_sources_answer(store)

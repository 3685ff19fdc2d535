"""The embedded engine: results with offsets in one transaction, idempotent re-processing,
late events, dead letters, and updates published for the web app."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import REPLAY, make_engine
from hypothesis import given
from hypothesis import settings as settings_hyp
from hypothesis import strategies as st
from sqlalchemy import delete, select

from btcpulse.bus.base import TopicPartition
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.config import Settings
from btcpulse.engines.embedded import EmbeddedEngine
from btcpulse.events import AnalyticsUpdate, Trade, encode, parse_event
from btcpulse.store import schema as t
from btcpulse.store.db import Store

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def _engine(settings: Settings, store: Store, bus: EmbeddedLog) -> EmbeddedEngine:
    return make_engine(settings, store, bus)


def _drain(e: EmbeddedEngine) -> int:
    total = 0
    while n := e.run_once():
        total += n
    return total


def _trade(i: int, at: datetime, price: float, size: float = 0.5) -> Trade:
    return Trade(
        exchange="coinbase",
        symbol="BTC-USD",
        trade_id=str(i),
        price=str(price),
        size=str(size),
        side="buy",
        time=at,
    )


def _produce(
    settings: Settings, bus: EmbeddedLog, events: list[Any], raw: list[bytes] = ()
) -> None:  # type: ignore[assignment]
    p = bus.producer()
    for ev in events:
        topic = settings.topic_news if ev.type == "news" else settings.topic_prices
        p.produce(topic, encode(ev))
    for r in raw:
        p.produce(settings.topic_prices, r)
    p.flush()


def _snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with store.read() as conn:
        for table, order in [
            (t.news, "id"),
            (t.trades, "trade_id"),
            (t.bars, "open_s"),
            (t.errors, "id"),
            (t.candles, "start"),
            (t.engine_offsets, "topic"),
        ]:
            out[table.name] = [
                tuple(r)
                for r in conn.execute(select(table).order_by(order, *table.primary_key.columns))
            ]
        out["enrichments"] = [
            tuple(r)
            for r in conn.execute(
                select(
                    t.enrichments.c.news_id,
                    t.enrichments.c.sentiment,
                    t.enrichments.c.sentiment_label,
                ).order_by("news_id")
            )
        ]
    return out


def _bundle_events() -> list[Any]:
    b = load_bundle(REPLAY)
    shift = T0 - b.end
    out = []
    for r in b.records[:600] + b.records[-400:]:
        ev = r.event
        if ev.type == "news":
            out.append(ev.model_copy(update={"published_at": ev.published_at + shift}))
        else:
            out.append(ev.model_copy(update={"open_time": ev.open_time + shift}))
    return out


def test_processes_news_bars_and_garbage(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    events = _bundle_events()
    _produce(settings, bus, events, raw=[b"{oops", b'{"type":"trade","exchange":"x"}'])
    e = _engine(settings, store, bus)
    # + 2 garbage messages, + the 2 dead letters the engine published and read back
    assert _drain(e) == len(events) + 2 + 2
    snap = _snapshot(store)
    n_news = sum(1 for ev in events if ev.type == "news")
    assert n_news > 0
    assert len(snap["news"]) == n_news == len(snap["enrichments"])
    assert len(snap["bars"]) == len(events) - n_news
    assert {r[2] for r in snap["enrichments"]} <= {"positive", "negative", "neutral"}
    assert len(snap["errors"]) == 2 and any("Invalid JSON" in r[4] for r in snap["errors"])
    assert sorted(snap["engine_offsets"]) == sorted(
        [
            ("engine", settings.topic_deadletters, 0, 2),
            ("engine", settings.topic_news, 0, n_news),
            ("engine", settings.topic_prices, 0, len(events) - n_news + 2),
        ]
    )
    # 1 m candles of a bar venue equal its bars; rollups exist for every coarser level
    with store.read() as conn:
        levels = {r[0] for r in conn.execute(select(t.candles.c.resolution_s).distinct())}
    assert levels == {60, 300, 900, 3600, 14400, 86400}
    # the dead letters were also published to the dead-letter topic, and updates to theirs
    c = bus.consumer("check")
    c.subscribe([settings.topic_deadletters, settings.topic_updates])
    got = [parse_event(m.value) for m in c.poll(1.0, 100_000)]
    assert sum(1 for g in got if g.type == "deadletter") == 2
    ups = [g for g in got if isinstance(g, AnalyticsUpdate)]
    assert {"news", "candle", "story", "burst", "index"} <= {u.kind for u in ups}
    assert [u.seq for u in ups] == sorted(u.seq for u in ups) and ups[0].seq == 1


def test_reprocessing_everything_gives_the_same_store(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    events = _bundle_events() + [
        _trade(i, T0 + timedelta(seconds=i * 0.7), 20_000 + i) for i in range(300)
    ]
    _produce(settings, bus, events, raw=[b"garbage"])
    settings = settings.model_copy(update={"engine_max_batch": 97})  # many small batches
    _drain(_engine(settings, store, bus))
    first = _snapshot(store)
    with store.begin() as conn:  # forget every offset: a crash before any commit, replayed
        conn.execute(delete(t.engine_offsets))
    e = _engine(settings, store, bus)
    assert e.consumer.position(TopicPartition(settings.topic_prices, 0)) == 0
    _drain(e)
    again = _snapshot(store)
    # the dead-letter *topic* is at-least-once (the replay re-published the garbage's letter);
    # its offset moves on, but the errors table, like every other table, is unchanged
    drop_dlq = lambda rows: [r for r in rows if r[1] != settings.topic_deadletters]  # noqa: E731
    again["engine_offsets"] = drop_dlq(again["engine_offsets"])
    first["engine_offsets"] = drop_dlq(first["engine_offsets"])
    assert again == first
    assert len(first["errors"]) == 1 and len(first["candles"]) > 1000


def test_restart_resumes_from_the_store_offsets_not_the_bus_group(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    _produce(settings, bus, [_trade(i, T0, 100.0) for i in range(10)])
    e = _engine(settings, store, bus)
    assert _drain(e) == 10
    e.consumer.commit({TopicPartition(settings.topic_prices, 0): 0})  # bus group commit lost
    e2 = _engine(settings, store, bus)
    assert e2.run_once() == 0  # nothing is read twice


def test_late_trade_rewrites_its_windows(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    e = _engine(settings, store, bus)
    _produce(
        settings,
        bus,
        [
            _trade(1, T0 + timedelta(seconds=10), 100.0),
            _trade(2, T0 + timedelta(seconds=50), 110.0),
        ],
    )
    _drain(e)
    _produce(settings, bus, [_trade(3, T0 + timedelta(seconds=2), 90.0, 2.0)])  # late
    _drain(e)
    t0 = int(T0.timestamp())
    with store.read() as conn:
        rows = {
            res: conn.execute(
                select(t.candles).where(
                    t.candles.c.venue == "coinbase",
                    t.candles.c.resolution_s == res,
                    t.candles.c.start == t0 - t0 % res,
                )
            ).one()
            for res in (5, 60, 300, 900, 3600, 14400, 86400)
        }
    assert rows[5].open == 90.0 and rows[5].trades == 1  # the late trade's own 5 s window
    for res in (60, 300, 900, 3600, 14400, 86400):  # every coarser window opens at the late trade
        r = rows[res]
        assert (r.open, r.high, r.low, r.close, r.volume, r.trades) == (
            90.0,
            110.0,
            90.0,
            110.0,
            3.0,
            3,
        )


def test_composite_candles_weight_live_venues_by_volume(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    def trade(venue: str, i: int, price: float, size: float) -> Trade:
        return Trade(
            exchange=venue,
            symbol="BTC-USD",
            trade_id=str(i),
            price=str(price),
            size=str(size),
            side="buy",
            time=T0 + timedelta(seconds=1),
        )

    _produce(settings, bus, [trade("coinbase", 1, 100.0, 1.0), trade("kraken", 1, 101.0, 3.0)])
    _drain(_engine(settings, store, bus))
    t0 = int(T0.timestamp())
    with store.read() as conn:
        comp = {
            r.resolution_s: r
            for r in conn.execute(select(t.candles).where(t.candles.c.venue == "composite"))
        }
    assert set(comp) == {1, 5, 60, 300, 900, 3600, 14400, 86400}
    one = comp[60]
    assert one.start == t0 - t0 % 60 and one.volume == 4.0
    assert abs(one.close - (100.0 * 1 + 101.0 * 3) / 4) < 1e-9


@settings_hyp(max_examples=4, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 60),
)
def test_micro_batches_in_any_arrival_order_equal_one_batch(
    tmp_path_factory: pytest.TempPathFactory, seed: int, batch: int
) -> None:
    """Candles are the same whatever the arrival order and however the stream is cut."""
    rng = random.Random(seed)
    trades = [
        _trade(i, T0 + timedelta(seconds=rng.uniform(0, 900)), round(rng.uniform(99, 101), 2))
        for i in range(120)
    ]
    shuffled = trades[:]
    rng.shuffle(shuffled)
    results = []
    for events, max_batch in ((trades, 10_000), (shuffled, batch)):
        base = tmp_path_factory.mktemp("order")
        s = Settings(data_dir=base, engine_max_batch=max_batch, _env_file=None)  # type: ignore[call-arg]
        store = Store(s.resolved_store_url)
        store.migrate()
        bus = EmbeddedLog(s.resolved_bus_path)
        _produce(s, bus, events)
        _drain(_engine(s, store, bus))
        with store.read() as conn:
            results.append(
                sorted(tuple(r) for r in conn.execute(select(t.candles).order_by("start")))
            )
        store.dispose()
    one, micro = results
    assert len(one) == len(micro) > 0
    for a, b in zip(one, micro, strict=True):
        assert a[:4] == b[:4] and a[4:8] == b[4:8] and a[10:] == b[10:]  # keys, OHLC, counts
        assert all(
            abs(x - y) <= 1e-9 * max(1.0, abs(x)) for x, y in zip(a[8:10], b[8:10], strict=True)
        )

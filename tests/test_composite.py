"""The composite BTC price: volume-weighted across live venues; an outlying, missing or stale
venue is left out and flagged (pure function and through the embedded engine)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
from conftest import drain_engine
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from btcpulse.analytics.candles import CANDLE_SCHEMA
from btcpulse.analytics.market import composite
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.config import Settings
from btcpulse.events import AnalyticsUpdate, Trade, encode, parse_event
from btcpulse.store import schema as t
from btcpulse.store.db import Store

T0 = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)


def _candles(rows: list[tuple[str, int, float, float]], res: int = 60) -> pl.DataFrame:
    return pl.DataFrame(
        [(v, "BTC-USD", res, s, c - 1, c + 2, c - 2, c, vol, c * vol, 10) for v, s, c, vol in rows],
        schema=CANDLE_SCHEMA,
        orient="row",
    )


def _prior(rows: list[tuple[str, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"venue": pl.String, "start": pl.Int64}, orient="row")


def test_flags_by_hand() -> None:
    c = _candles(
        [
            ("coinbase", 0, 100.0, 1.0),
            ("kraken", 0, 100.2, 3.0),
            ("bitstamp", 0, 110.0, 5.0),  # 9.8 % above the median: outlier
            ("coinbase", 60, 100.0, 1.0),
            ("kraken", 60, 100.4, 1.0),  # bitstamp seen 60 s ago: missing
            ("coinbase", 300, 100.0, 1.0),  # bitstamp seen 300 s ago: stale
            ("kraken", 300, 100.0, 1.0),
        ]
    )
    out = composite(c, stale_after_s=120)
    assert out["flags"].to_list() == [
        ["bitstamp:outlier"],
        ["bitstamp:missing"],
        ["bitstamp:stale"],
    ]
    assert out["excluded"].to_list() == [["bitstamp"], ["bitstamp"], []]
    assert out["venues"].to_list() == [2, 2, 2]
    assert out["close"][0] == (100.0 * 1 + 100.2 * 3) / 4  # volume-weighted, outlier out


def test_prior_history_decides_missing_stale_or_forgotten() -> None:
    c = _candles([("coinbase", 1000, 100.0, 1.0), ("kraken", 1000, 100.0, 1.0)], res=1)
    assert composite(c, prior=_prior([("bitstamp", 950)]))["flags"][0].to_list() == [
        "bitstamp:missing"
    ]
    assert composite(c, prior=_prior([("bitstamp", 950)]))["excluded"][0].to_list() == ["bitstamp"]
    assert composite(c, prior=_prior([("bitstamp", 500)]))["flags"][0].to_list() == [
        "bitstamp:stale"
    ]
    gone = composite(c, prior=_prior([("bitstamp", 500)]), forget_after_s=300)
    assert gone["flags"][0].to_list() == [] and gone["excluded"][0].to_list() == []


rows = st.lists(
    st.tuples(
        st.sampled_from(["coinbase", "kraken", "bitstamp", "gemini"]),
        st.integers(0, 8).map(lambda k: 60 * k),
        st.floats(90, 110, allow_nan=False),
        st.sampled_from([0.0, 0.1, 1.0, 4.0]),
    ),
    min_size=1,
    max_size=30,
    unique_by=lambda r: (r[0], r[1]),
)


@settings(max_examples=80, deadline=None)
@given(rows)
def test_every_venue_is_either_in_or_flagged(data: list[tuple[str, int, float, float]]) -> None:
    out = composite(_candles(data), stale_after_s=120, max_deviation=0.03)
    for r in out.iter_rows(named=True):
        present = {v for v, s, *_ in data if s == r["start"]}
        flagged = dict(f.split(":") for f in r["flags"])
        outliers = {v for v, why in flagged.items() if why == "outlier"}
        assert r["flags"] == sorted(r["flags"])
        assert outliers <= present and r["venues"] == len(present) - len(outliers)
        assert set(r["excluded"]) == outliers | {v for v, w in flagged.items() if w == "missing"}
        for v, why in flagged.items():
            if why != "outlier":
                last = max(s for x, s, *_ in data if x == v and s <= r["start"])
                assert (r["start"] - last <= 120) == (why == "missing")


def _trade(venue: str, i: int, price: float, size: float, at: datetime) -> Trade:
    return Trade(
        exchange=venue,
        symbol="BTC-USD",
        trade_id=str(i),
        price=str(price),
        size=str(size),
        side="buy",
        time=at,
    )


def test_engine_flags_an_outlier_then_a_stale_venue(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    p = bus.producer()
    first = [
        _trade("coinbase", 1, 65_000.0, 1.0, T0),
        _trade("kraken", 1, 65_010.0, 3.0, T0),
        _trade("bitstamp", 1, 71_000.0, 2.0, T0),  # 9 % off: an outlier
    ]
    for tr in first:
        p.produce(settings.topic_prices, encode(tr))
    p.flush()
    drain_engine(settings, store, bus)
    later = T0 + timedelta(seconds=200)  # bitstamp silent for 200 s: stale
    for tr in [_trade("coinbase", 2, 65_000.0, 1.0, later), _trade("kraken", 2, 65_020, 1, later)]:
        p.produce(settings.topic_prices, encode(tr))
    p.flush()
    drain_engine(settings, store, bus)

    t0, t1 = int(T0.timestamp()), int(later.timestamp())
    with store.read() as conn:
        flags = {
            (r.resolution_s, r.start): (r.venues, json.loads(r.flags))
            for r in conn.execute(select(t.composite_flags))
        }
        comp = conn.execute(
            select(t.candles).where(
                t.candles.c.venue == "composite",
                t.candles.c.resolution_s == 1,
                t.candles.c.start == t0,
            )
        ).one()
    assert flags[(1, t0)] == (2, ["bitstamp:outlier"])
    assert flags[(1, t1)] == (2, ["bitstamp:stale"])
    assert comp.close == (65_000.0 * 1 + 65_010.0 * 3) / 4 and comp.volume == 4.0

    consumer = bus.consumer("check")
    consumer.subscribe([settings.topic_updates])
    updates = []
    while batch := consumer.poll(0.2, 100_000):
        updates += [parse_event(m.value) for m in batch]
    pushed = {
        u.key: u.data
        for u in updates
        if isinstance(u, AnalyticsUpdate) and u.key.startswith("candle:composite:")
    }
    assert pushed[f"candle:composite:BTC-USD:1s:{t0}"]["flags"] == ["bitstamp:outlier"]
    assert pushed[f"candle:composite:BTC-USD:1s:{t1}"]["venues"] == 2

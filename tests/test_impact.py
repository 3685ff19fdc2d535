"""News → price impact: hand-computed returns, late prices, and per-group summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btcpulse.analytics.impact import impact_by, price_impact

T0 = datetime(2025, 12, 12, tzinfo=UTC)
S0 = int(T0.timestamp())
NEWS: dict[str, type[pl.DataType] | pl.DataType] = {
    "id": pl.String,
    "published_at": pl.Datetime("us", "UTC"),
}


def _news(offsets_s: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        [(f"n{i}", T0 + timedelta(seconds=s)) for i, s in enumerate(offsets_s)],
        schema=NEWS,
        orient="row",
    )


def _candles(closes: list[float], first: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "start": [S0 + 60 * (first + i) for i in range(len(closes))],
            "close": closes,
            "resolution_s": [60] * len(closes),
        },
        schema={"start": pl.Int64, "close": pl.Float64, "resolution_s": pl.Int32},
    )


def test_returns_by_hand() -> None:
    # candle i covers [60i, 60i + 60) and is known from 60i + 60
    candles = _candles([100.0, 110.0, 121.0, 99.0, 80.0, 88.0])  # last ends at 360
    news = _news([90, 120, -1, 250.5, 0, 59.999999])
    got = price_impact(news, candles, (60, 240))
    assert got.columns == ["id", "base_price", "ret_60s", "ret_240s"]
    rows = {r[0]: r[1:] for r in got.iter_rows()}
    # t=90: base = candle 0 (ended at 60); t+60=150 → candle 1; t+240=330 → candle 4
    assert rows["n0"] == (100.0, 110.0 / 100.0 - 1, 80.0 / 100.0 - 1)
    # t=120 (a boundary): base = candle 1; t+60=180 → candle 2; t+240=360 → candle 5
    assert rows["n1"] == (110.0, 121.0 / 110.0 - 1, 88.0 / 110.0 - 1)
    assert rows["n2"] == (None, None, None)  # before any candle ended
    # t=250.5: base = candle 3 (ended 240); 310.5 → candle 4 (ended 300); 490.5 not yet known
    assert rows["n3"] == (99.0, 80.0 / 99.0 - 1, None)
    assert rows["n4"] == (None, None, None)  # candle 0 ends at 60, after t=0
    assert rows["n5"] == (None, None, None)
    assert got["id"].to_list() == news["id"].to_list()
    # after the last candle: the base is final only while no candle can still end before t
    late = price_impact(_news([419.0, 420.0]), candles, (60,))
    assert late.rows() == [("n0", 88.0, None), ("n1", None, None)]
    # a repeated start keeps its highest close, whatever the order
    dup = pl.concat([candles, _candles([50.0], first=1), _candles([500.0], first=1)])
    assert price_impact(news, dup.reverse(), (60,))["ret_60s"][0] == 500.0 / 100.0 - 1


def test_no_candles_no_news_and_candle_order() -> None:
    news = _news([90])
    assert price_impact(news, _candles([])).row(0) == ("n0", None, None, None, None)
    assert price_impact(_news([]), _candles([1.0])).columns == [
        "id",
        "base_price",
        "ret_60s",
        "ret_300s",
        "ret_3600s",
    ]
    candles = _candles([float(100 + i) for i in range(70)])
    shuffled = candles.sample(fraction=1.0, shuffle=True, seed=7)
    assert price_impact(news, shuffled).equals(price_impact(news, candles))


def test_impact_by_topic_and_source() -> None:
    impacts = pl.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "ret_60s": [0.01, 0.03, None, -0.02],
            "ret_300s": [None, None, None, None],
            "topics": [["etf", "regulation"], ["etf", "etf"], ["etf"], []],
            "source": ["coindesk", "coindesk", "theblock", None],
        },
        schema_overrides={"ret_300s": pl.Float64},
    )
    by_topic = impact_by(impacts, "topics").to_dicts()
    assert [r["topics"] for r in by_topic] == ["etf", "regulation"]
    etf = by_topic[0]
    assert (etf["n"], etf["n_ret_60s"]) == (3, 2)
    assert etf["mean_ret_60s"] == pytest.approx(0.02) and etf["median_ret_60s"] == pytest.approx(
        0.02
    )
    assert (etf["n_ret_300s"], etf["mean_ret_300s"], etf["median_ret_300s"]) == (0, None, None)
    by_source = {r["source"]: r for r in impact_by(impacts, "source").to_dicts()}
    assert set(by_source) == {"coindesk", "theblock"}
    assert by_source["theblock"]["n"] == 1 and by_source["theblock"]["mean_ret_60s"] is None
    assert by_source["coindesk"]["median_ret_60s"] == pytest.approx(0.02)


_closes = st.lists(st.floats(1.0, 1e6, allow_nan=False, allow_infinity=False), max_size=120)
_times = st.lists(st.floats(-120.0, 7400.0, allow_nan=False), max_size=40)
_horizons = st.lists(st.integers(1, 4000), min_size=1, max_size=4, unique=True).map(tuple)


@settings(max_examples=80, deadline=None)
@given(closes=_closes, times=_times, horizons=_horizons)
def test_returns_equal_close_ratios(
    closes: list[float], times: list[float], horizons: tuple[int, ...]
) -> None:
    news = _news(times)
    got = price_impact(news, _candles(closes), horizons)
    last_end = 60 * len(closes)
    times_us = (news["published_at"].dt.epoch("us") - S0 * 1_000_000).to_list()
    for t_us, row in zip(times_us, got.iter_rows(named=True), strict=True):
        i = t_us // 60_000_000 - 1  # the last candle ending at or before t
        base = closes[i] if 0 <= i < len(closes) else None  # else not final yet
        assert row["base_price"] == base
        for h in horizons:
            j = min((t_us + h * 1_000_000) // 60_000_000 - 1, len(closes) - 1)
            known = base is not None and t_us + h * 1_000_000 <= last_end * 1_000_000
            assert row[f"ret_{h}s"] == (closes[j] / base - 1.0 if known else None)


@settings(max_examples=80, deadline=None)
@given(closes=_closes, times=_times, cut=st.integers(0, 120), horizons=_horizons)
def test_later_candles_only_fill_nulls(
    closes: list[float], times: list[float], cut: int, horizons: tuple[int, ...]
) -> None:
    news = _news(times)
    early = price_impact(news, _candles(closes[:cut]), horizons)
    later = price_impact(news, _candles(closes), horizons)
    for a, b in zip(early.iter_rows(), later.iter_rows(), strict=True):
        for x, y in zip(a, b, strict=True):
            assert x is None or x == y
        assert sum(x is None for x in a) >= sum(y is None for y in b)


@settings(max_examples=40, deadline=None)
@given(price=st.floats(0.01, 1e7), n=st.integers(0, 90), times=_times, horizons=_horizons)
def test_constant_price_returns_zero(
    price: float, n: int, times: list[float], horizons: tuple[int, ...]
) -> None:
    got = price_impact(_news(times), _candles([price] * n), horizons)
    for h in horizons:
        known = got[f"ret_{h}s"].drop_nulls()
        assert known.to_list() == [0.0] * known.len()

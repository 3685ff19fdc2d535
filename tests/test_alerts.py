"""Alerts: index crossings, news bursts, price moves; stable ids across re-runs and batches."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btcpulse.analytics.alerts import Burst, IndexCross, PriceMove, evaluate

T0 = 1_678_449_600  # 2023-03-10 12:00 UTC, a multiple of 3600
NO_INDEX = pl.DataFrame(schema={"time": pl.Int64, "index": pl.Float64})
NO_BURSTS = pl.DataFrame(
    schema={
        "key": pl.String,
        "start": pl.Int64,
        "resolution_s": pl.Int32,
        "count": pl.Int64,
        "z": pl.Float64,
    }
)
NO_CANDLES = pl.DataFrame(schema={"start": pl.Int64, "close": pl.Float64})


def _index(values: list[float], t0: int = T0) -> pl.DataFrame:
    return pl.DataFrame(
        {"time": [t0 + 60 * k for k in range(len(values))], "index": values},
        schema=NO_INDEX.schema,
    )


def _candles(closes: list[float], t0: int = T0) -> pl.DataFrame:
    return pl.DataFrame(
        {"start": [t0 + 60 * k for k in range(len(closes))], "close": closes},
        schema=NO_CANDLES.schema,
    )


def _ids(df: pl.DataFrame) -> set[str]:
    return set(df.get_column("alert_id").to_list())


def test_index_crossings_fire_once_per_crossing() -> None:
    index = _index([60, 69, 71, 72, 65, 75, 70])
    up, down = IndexCross(70, "up"), IndexCross(70.0, "down")
    out = evaluate([up, down], index, NO_BURSTS, NO_CANDLES)
    assert out.select("kind", "time", "value").rows() == [
        ("index_cross", T0 + 120, 71.0),
        ("index_cross", T0 + 240, 65.0),
        ("index_cross", T0 + 300, 75.0),
        ("index_cross", T0 + 360, 70.0),  # down to the level counts: "at or below"
    ]
    assert out.get_column("rule").to_list() == [
        "index crosses above 70",
        "index crosses below 70",
        "index crosses above 70",
        "index crosses below 70",
    ]
    assert "crossed above 70" in out.get_column("message")[0]
    again = evaluate([IndexCross(70.0, "up"), IndexCross(70, "down")], index, NO_BURSTS, NO_CANDLES)
    assert again.equals(out)  # equal rules (70 == 70.0) → equal ids


def test_bursts_fire_once_per_window_and_keep_their_id() -> None:
    bursts = pl.DataFrame(
        [
            ("topic:regulation", T0, 3600, 14, 4.2),
            ("topic:regulation", T0 + 3600, 3600, 5, 2.9),  # below the threshold
            ("topic:etf", T0, 3600, 9, 3.0),  # exactly at it
            ("topic:etf", T0, 3600, 9, 3.0),  # the same window twice
        ],
        schema=NO_BURSTS.schema,
        orient="row",
    )
    out = evaluate([Burst()], NO_INDEX, bursts, NO_CANDLES)
    assert out.select("time", "value").sort("value").rows() == [(T0, 3.0), (T0, 4.2)]
    msg = out.filter(pl.col("value") == 4.2).get_column("message").item()
    assert msg.startswith("News burst on topic:regulation: 14 articles in the 1 h from 2023-03-10")
    # the window grows: same alert, new value
    grown = bursts.with_columns(
        pl.when(pl.col("z") == 4.2).then(5.0).otherwise(pl.col("z")).alias("z")
    )
    out2 = evaluate([Burst()], NO_INDEX, grown, NO_CANDLES)
    assert _ids(out2) == _ids(out)
    assert sorted(out2.get_column("value").to_list()) == [3.0, 5.0]
    assert evaluate([Burst(z=10)], NO_INDEX, bursts, NO_CANDLES).is_empty()


def test_price_move_fires_once_per_aligned_window() -> None:
    # Flat at 100, then 101.5 from minute 7 on: vs 5 minutes earlier the change is +1.5 % at
    # minutes 7..11. Windows [0, 5), [5, 10), [10, 15) min: fires at 7 and at 10, not 8, 9, 11.
    closes = [100.0] * 7 + [101.5] * 8
    out = evaluate([PriceMove(pct=1, minutes=5)], NO_INDEX, NO_BURSTS, _candles(closes))
    assert out.get_column("time").to_list() == [T0 + 7 * 60, T0 + 10 * 60]
    assert out.get_column("value").to_list() == [pytest.approx(1.5)] * 2
    assert out.get_column("message")[0] == (
        "Bitcoin rose 1.50% in 5 min, from 100.00 to 101.50 at 2023-03-10 12:07 UTC."
    )
    # the message's figures, for the dashboard to word it in the reader's language
    assert json.loads(out.get_column("params")[0]) == {
        "minutes": 5,
        "from": 100.0,
        "to": 101.5,
        "change_pct": pytest.approx(1.5),
    }
    falls = evaluate(
        [PriceMove(pct=1, minutes=5)], NO_INDEX, NO_BURSTS, _candles([100.0] * 6 + [98.0])
    )
    assert falls.get_column("value").to_list() == [pytest.approx(-2.0)]
    assert "fell 2.00%" in falls.get_column("message")[0]
    assert evaluate([PriceMove(5, 5)], NO_INDEX, NO_BURSTS, _candles(closes)).is_empty()
    with pytest.raises(ValueError):
        PriceMove(pct=0, minutes=5)


def test_nothing_in_nothing_out() -> None:
    rules = [IndexCross(50, "up"), Burst(), PriceMove(1, 1)]
    out = evaluate(rules, NO_INDEX, NO_BURSTS, NO_CANDLES)
    assert out.is_empty() and evaluate(rules, None, None, None).equals(out)
    assert out.columns == ["alert_id", "rule", "kind", "time", "value", "message", "params"]
    # NaN is no value (polars orders NaN above every number: it must not pass a threshold)
    nan = float("nan")
    bursts = pl.DataFrame([("k", T0, 60, 1, nan)], schema=NO_BURSTS.schema, orient="row")
    assert evaluate(rules, _index([nan, 60, nan]), bursts, _candles([nan, 1.0, nan])).is_empty()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=60),
    st.lists(st.floats(-0.01, 0.01, allow_nan=False), min_size=2, max_size=120),
    st.integers(1, 59),
    st.integers(1, 119),
)
def test_alert_ids_are_stable_across_re_evaluation_and_batch_splits(
    index_values: list[float], steps: list[float], cut_index: int, cut_minute: int
) -> None:
    rules = [IndexCross(50, "up"), IndexCross(40, "down"), PriceMove(0.8, 5), PriceMove(1.5, 15)]
    index = _index(index_values)
    closes = [100.0]
    for s in steps:
        closes.append(closes[-1] * math.exp(s))
    candles = _candles(closes)
    full = evaluate(rules, index, NO_BURSTS, candles)
    assert evaluate(rules, index, NO_BURSTS, candles).equals(full)
    assert full.get_column("alert_id").is_unique().all()

    # Index: two batches; the second reads back the row before its first time.
    k = min(cut_index, index.height - 1)
    parts = [
        evaluate(rules[:2], index.slice(0, k), NO_BURSTS, NO_CANDLES),
        evaluate(rules[:2], index.slice(k - 1), NO_BURSTS, NO_CANDLES),
    ]
    # Prices: two batches cut at a 15-minute boundary; the second reads back 15 minutes.
    cut = min(cut_minute // 15 * 15, candles.height)
    parts += [
        evaluate(rules[2:], NO_INDEX, NO_BURSTS, candles.slice(0, cut)),
        evaluate(rules[2:], NO_INDEX, NO_BURSTS, candles.slice(max(cut - 15, 0))),
    ]
    merged = pl.concat(parts).unique(subset="alert_id", keep="first").sort(["time", "alert_id"])
    assert merged.equals(full.sort(["time", "alert_id"]))

"""Candle analytics: OHLCV from trades, rollups equal direct computation, bars, ranges."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from btcpulse.analytics.candles import (
    BAR_SCHEMA,
    RESOLUTIONS,
    TRADE_SCHEMA,
    candles_from_trades,
    contiguous_ranges,
    level_for_interval,
    rollup,
)

NO_BARS = pl.DataFrame(schema=BAR_SCHEMA)


def _trades(rows: list[tuple[int, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [("v", "BTC-USD", f"{i:08d}", p, s, t) for i, (t, p, s) in enumerate(rows)],
        schema=TRADE_SCHEMA,
        orient="row",
    )


def _naive(rows: list[tuple[int, float, float]], res: int) -> dict[int, tuple[float, ...]]:
    """Reference: plain Python OHLCV per window (rows in trade-id order)."""
    out: dict[int, list[tuple[int, int, float, float]]] = {}
    for i, (t, p, s) in enumerate(rows):
        out.setdefault((t // 1_000_000) // res * res, []).append((t, i, p, s))
    result = {}
    for start, trades in out.items():
        trades.sort()
        prices = [p for _, _, p, _ in trades]
        result[start] = (
            prices[0],
            max(prices),
            min(prices),
            prices[-1],
            sum(s for *_, s in trades),
            sum(p * s for _, _, p, s in trades),
            len(trades),
        )
    return result


def test_ohlcv_of_known_trades() -> None:
    rows = [
        (1_000_000, 10.0, 1.0),
        (1_500_000, 12.0, 2.0),
        (1_200_000, 9.0, 1.0),
        (2_000_000, 11.0, 1.0),
    ]
    c = candles_from_trades(_trades(rows), 1)
    assert c.select("start", "open", "high", "low", "close", "volume", "trades").rows() == [
        (1, 10.0, 12.0, 9.0, 12.0, 4.0, 3),  # the late-arriving 1.2 s trade sorts by event time
        (2, 11.0, 11.0, 11.0, 11.0, 1.0, 1),
    ]


trade_lists = st.lists(
    st.tuples(
        st.integers(0, 3 * 86_400 * 1_000_000),
        st.floats(1, 1e6, allow_nan=False),
        st.floats(1e-8, 100, allow_nan=False),
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=60, deadline=None)
@given(trade_lists)
def test_every_level_rolled_up_equals_direct_computation(
    rows: list[tuple[int, float, float]],
) -> None:
    level = candles_from_trades(_trades(rows), RESOLUTIONS[0])
    for res in RESOLUTIONS[1:]:
        level = rollup(level, NO_BARS, res)
        expected = _naive(rows, res)
        got = {
            r["start"]: (
                r["open"],
                r["high"],
                r["low"],
                r["close"],
                r["volume"],
                r["quote_volume"],
                r["trades"],
            )
            for r in level.iter_rows(named=True)
        }
        assert got.keys() == expected.keys()
        for k, e in expected.items():
            g = got[k]
            assert g[:4] == e[:4] and g[6] == e[6]  # OHLC and counts exactly
            assert abs(g[4] - e[4]) <= 1e-9 * max(1.0, abs(e[4]))  # sums within 1e-9
            assert abs(g[5] - e[5]) <= 1e-9 * max(1.0, abs(e[5]))


def test_bars_feed_their_level_and_finer_candles_win_in_a_window() -> None:
    bars = pl.DataFrame(
        [
            ("v", "BTC-USD", 60, 0, 1.0, 3.0, 0.5, 2.0, 10.0),
            ("v", "BTC-USD", 60, 60, 2.0, 4.0, 2.0, 3.0, 5.0),
        ],
        schema=BAR_SCHEMA,
        orient="row",
    )
    assert level_for_interval(60) == 60 and level_for_interval(86_400) == 86_400
    m15 = rollup(
        pl.DataFrame(schema=candles_from_trades(_trades([(0, 1, 1)]), 1).schema), bars, 900
    )
    assert m15.select("start", "open", "high", "low", "close", "volume").rows() == [
        (0, 1.0, 4.0, 0.5, 3.0, 15.0)
    ]
    finer = rollup(candles_from_trades(_trades([(61_000_000, 7.0, 1.0)]), 1), NO_BARS, 5)
    one_min = rollup(finer, bars, 60)
    assert one_min.select("start", "close", "volume").rows() == [(0, 2.0, 10.0), (60, 7.0, 1.0)]


def test_contiguous_ranges() -> None:
    assert contiguous_ranges([0, 60, 120, 300], 60) == [(0, 180), (300, 360)]
    assert contiguous_ranges([], 60) == []

"""Market analytics: returns and realised volatility, the multi-venue composite candle."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btcpulse.analytics.candles import CANDLE_SCHEMA
from btcpulse.analytics.market import (
    SECONDS_PER_YEAR,
    composite,
    returns_and_volatility,
)


def _series(rows: list[tuple[int, float]], res: int = 60) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "start": [s for s, _ in rows],
            "close": [c for _, c in rows],
            "resolution_s": [res] * len(rows),
        },
        schema={"start": pl.Int64, "close": pl.Float64, "resolution_s": pl.Int32},
    )


def _candles(rows: list[tuple[str, int, float, float]], res: int = 60) -> pl.DataFrame:
    """(venue, start, close, volume) → candles with open = close - 1, high/low = close ± 2."""
    return pl.DataFrame(
        [
            (v, "BTC-USD", res, s, c - 1, c + 2, c - 2, c, vol, c * vol, int(vol * 10))
            for v, s, c, vol in rows
        ],
        schema=CANDLE_SCHEMA,
        orient="row",
    )


def test_returns_and_volatility_by_hand() -> None:
    # 0 → 60 → 120 contiguous; 240 after one missing candle (gap 120 ≤ window 2·60); 600 after a
    # gap longer than the window: no return there.
    out = returns_and_volatility(
        _series([(0, 100.0), (60, 110.0), (120, 99.0), (240, 99.99), (600, 50.0)]), window=2
    )
    r1, r2, r3 = math.log(1.1), math.log(0.9), math.log(1.01)
    assert out.columns == ["start", "ret", "realised_vol", "realised_vol_annualised"]
    rows = out.rows()
    assert [r[0] for r in rows] == [0, 60, 120, 240, 600]
    assert rows[0][1:] == (None, None, None)
    assert rows[1][1] == pytest.approx(r1) and rows[1][2] is None  # one return: no vol yet
    vol = math.sqrt(r1**2 + r2**2)
    assert rows[2][1] == pytest.approx(r2)
    assert rows[2][2] == pytest.approx(vol)
    # a full window of two 60 s returns: per-candle RMS x sqrt(year / 60)
    assert rows[2][3] == pytest.approx(math.sqrt((r1**2 + r2**2) / 2 * SECONDS_PER_YEAR / 60))
    assert rows[3][1] == pytest.approx(r3) and rows[3][2] is None  # (120, 240]: one return
    assert rows[4][1:] == (None, None, None)


def test_returns_need_one_resolution() -> None:
    df = _series([(0, 1.0), (60, 2.0)]).with_columns(pl.Series("resolution_s", [60, 300]))
    with pytest.raises(ValueError, match="one resolution"):
        returns_and_volatility(df)
    assert returns_and_volatility(_series([])).is_empty()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.floats(1.0, 1e6, allow_nan=False)),
        min_size=1,
        max_size=40,
        unique_by=lambda r: r[0],
    ),
    st.integers(1, 6),
    st.randoms(use_true_random=False),
)
def test_volatility_matches_a_naive_reference_in_any_row_order(
    rows: list[tuple[int, float]], window: int, rnd: st.random.Random
) -> None:
    res = 60
    pts = sorted((k * res, c) for k, c in rows)
    shuffled = list(pts)
    rnd.shuffle(shuffled)
    out = returns_and_volatility(_series(shuffled, res), window=window)
    assert out.get_column("start").to_list() == [s for s, _ in pts]
    width = window * res
    rets: list[tuple[int, float | None, int]] = []
    for i, (s, c) in enumerate(pts):
        if i and s - pts[i - 1][0] <= width:
            rets.append((s, math.log(c / pts[i - 1][1]), s - pts[i - 1][0]))
        else:
            rets.append((s, None, 0))
    for (s, ret, _), (_, got_ret, got_vol, got_ann) in zip(rets, out.rows(), strict=True):
        assert got_ret == (None if ret is None else pytest.approx(ret))
        inside = [(r, span) for t, r, span in rets if s - width < t <= s and r is not None]
        if len(inside) < 2:
            assert got_vol is None and got_ann is None
        else:
            ss = sum(r * r for r, _ in inside)
            assert got_vol == pytest.approx(math.sqrt(ss), rel=1e-9, abs=1e-12)
            cov = sum(span for _, span in inside)
            assert got_ann == pytest.approx(math.sqrt(ss * SECONDS_PER_YEAR / cov), rel=1e-9)


def test_composite_by_hand() -> None:
    c = _candles(
        [
            ("a", 0, 100.0, 1.0),
            ("b", 0, 101.0, 3.0),
            ("c", 0, 110.0, 5.0),  # 8.9 % above the median 101: an outlier
            ("a", 60, 100.0, 0.0),
            ("b", 60, 102.0, 0.0),  # c missing at 60 (seen 60 s ago): excluded as missing
            ("a", 300, 100.0, 2.0),  # c last seen 300 s ago: stale, no longer expected
            ("b", 300, 100.5, 2.0),
        ]
    )
    out = composite(c, stale_after_s=120, max_deviation=0.02)
    assert out.get_column("venue").unique().to_list() == ["composite"]
    assert out.get_column("symbol").unique().to_list() == ["BTC-USD"]
    r0, r60, r300 = out.to_dicts()
    assert r0["start"] == 0 and r0["venues"] == 2 and r0["excluded"] == ["c"]
    assert r0["close"] == pytest.approx((100 * 1 + 101 * 3) / 4)  # 100.75
    assert r0["open"] == pytest.approx((99 * 1 + 100 * 3) / 4)
    assert (r0["high"], r0["low"]) == (103.0, 98.0)  # c's 112 is left out
    assert (r0["volume"], r0["quote_volume"], r0["trades"]) == (4.0, 403.0, 40)
    assert r60["close"] == pytest.approx(101.0)  # no volume anywhere: equal weights
    assert r60["venues"] == 2 and r60["excluded"] == ["c"]
    assert r300["close"] == pytest.approx(100.25) and r300["excluded"] == []


def test_composite_needs_three_venues_to_call_an_outlier() -> None:
    out = composite(_candles([("a", 0, 100.0, 1.0), ("b", 0, 150.0, 1.0)]))
    assert out.row(0, named=True)["venues"] == 2
    assert out.row(0, named=True)["close"] == pytest.approx(125.0)
    # two camps of two: no majority, nobody is excluded as an outlier
    split = composite(
        _candles([("a", 0, 100.0, 1.0), ("b", 0, 100.0, 1.0), ("c", 0, 200.0, 1), ("d", 0, 200, 1)])
    )
    assert split.row(0, named=True)["venues"] == 4
    assert composite(_candles([])).is_empty()


venue_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.integers(0, 6).map(lambda k: 60 * k),
        st.floats(95, 105, allow_nan=False),
        st.sampled_from([0.0, 0.5, 1.0, 2.25, 7.0]),
    ),
    min_size=1,
    max_size=30,
    unique_by=lambda r: (r[0], r[1]),
)


@settings(max_examples=80, deadline=None)
@given(venue_rows, st.randoms(use_true_random=False))
def test_composite_is_invariant_under_row_order(
    rows: list[tuple[str, int, float, float]], rnd: st.random.Random
) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    a = composite(_candles(rows), max_deviation=0.01)
    b = composite(_candles(shuffled), max_deviation=0.01)
    assert a.equals(b)  # exactly, to the last bit
    for r in a.iter_rows(named=True):
        present = {v for v, s, *_ in rows if s == r["start"]}
        assert r["venues"] + len(set(r["excluded"]) & present) == len(present)
        assert r["low"] - 2 <= r["close"] <= r["high"] + 2


@settings(max_examples=60, deadline=None)
@given(
    st.floats(1_000, 100_000, allow_nan=False),
    st.lists(st.floats(-0.005, 0.005, allow_nan=False), min_size=2, max_size=6),
    st.floats(0.03, 0.5, allow_nan=False),
    st.booleans(),
    st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=7, max_size=7),
)
def test_an_outlying_venue_is_excluded_and_flagged(
    price: float,
    offsets: list[float],
    jump: float,
    down: bool,
    volumes: list[float],
) -> None:
    honest = [(f"v{i}", 0, price * (1 + o), volumes[i]) for i, o in enumerate(offsets)]
    bad = ("zz-bad", 0, price * (1 - jump if down else 1 + jump), volumes[-1])
    out = composite(_candles([*honest, bad]), max_deviation=0.02).row(0, named=True)
    assert out["excluded"] == ["zz-bad"]
    assert out["venues"] == len(honest)
    closes = [c for _, _, c, _ in honest]
    assert min(closes) * (1 - 1e-12) <= out["close"] <= max(closes) * (1 + 1e-12)
    assert out["volume"] == pytest.approx(sum(v for *_, v in honest))

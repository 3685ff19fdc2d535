"""The sentiment index: components by hand, its explanation, bounds, no data → 50, order."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btcpulse.analytics.index import (
    DEFAULT_WEIGHTS,
    IndexWeights,
    sentiment_index,
)

T = int(datetime(2023, 3, 10, 13, 0, tzinfo=UTC).timestamp())
NEWS_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    "id": pl.String,
    "title": pl.String,
    "published_at": pl.Datetime("us", "UTC"),
    "sentiment": pl.Float64,
}
NO_NEWS = pl.DataFrame(schema=NEWS_SCHEMA)
NO_CANDLES = pl.DataFrame(schema={"start": pl.Int64, "close": pl.Float64})


def _news(rows: list[tuple[str, int, float | None]]) -> pl.DataFrame:
    """(id, epoch seconds, sentiment) → news rows titled after their id."""
    return pl.DataFrame(
        {
            "id": [i for i, _, _ in rows],
            "title": [f"Headline {i}" for i, _, _ in rows],
            "published_at": [datetime.fromtimestamp(t, tz=UTC) for _, t, _ in rows],
            "sentiment": [s for *_, s in rows],
        },
        schema=NEWS_SCHEMA,
    )


def _candles(starts: list[int], closes: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"start": starts, "close": closes}, schema=NO_CANDLES.schema)


def test_no_data_gives_fifty_everywhere() -> None:
    idx, why = sentiment_index(NO_NEWS, NO_CANDLES, [T, T + 60, T])
    assert idx.get_column("time").to_list() == [T, T + 60]
    for col in ("index", "sentiment_c", "volume_c", "momentum_c", "volatility_c"):
        assert idx.get_column(col).to_list() == [50.0, 50.0]
    assert idx.get_column("n_news").to_list() == [0, 0]
    assert why.is_empty() and why.columns == ["time", "id", "title", "contribution"]
    empty, _ = sentiment_index(NO_NEWS, NO_CANDLES, [])
    assert empty.is_empty()


def test_sentiment_component_and_explanation_by_hand() -> None:
    news = _news(
        [
            ("old", T - 3600, 1.0),  # exactly W ago: outside (T - W, T]
            ("half", T - 1800, 1.0),  # half a window old: weight 0.5
            ("now", T, -1.0),  # weight 1
            ("unscored", T - 60, None),  # counts for volume, not for sentiment
        ]
    )
    idx, why = sentiment_index(news, NO_CANDLES, [T])
    row = idx.row(0, named=True)
    m = (0.5 * 1.0 + 1.0 * -1.0) / 1.5
    assert row["sentiment_c"] == pytest.approx(50 * (1 + m))  # 33.33
    assert row["n_news"] == 3
    # 3 in the window, 1 in the 24 windows before it (the one exactly W ago)
    assert row["volume_c"] == pytest.approx(100 * 4 / (3 + 1 / 24 + 2))
    assert row["momentum_c"] == 50.0 and row["volatility_c"] == 50.0
    expected = (0.4 * row["sentiment_c"] + 0.1 * row["volume_c"] + 0.3 * 50 + 0.2 * 50) / 1.0
    assert row["index"] == pytest.approx(expected)
    assert why.select("time", "id", "title").rows() == [
        (T, "now", "Headline now"),
        (T, "half", "Headline half"),
    ]
    c_now, c_half = why.get_column("contribution").to_list()
    assert c_now == pytest.approx(0.4 * 50 * -1.0 / 1.5)  # -13.33 index points
    assert c_half == pytest.approx(0.4 * 50 * 0.5 / 1.5)  # +6.67
    assert c_now + c_half == pytest.approx(0.4 * (row["sentiment_c"] - 50))


def test_explanation_keeps_the_five_strongest() -> None:
    news = _news([(f"n{k}", T - 60 * k, (-1) ** k * k / 10) for k in range(1, 9)])
    _, why = sentiment_index(news, NO_CANDLES, [T])
    assert why.height == 5
    mags = [abs(c) for c in why.get_column("contribution").to_list()]
    assert mags == sorted(mags, reverse=True)
    assert set(why.get_column("id")) <= {f"n{k}" for k in range(1, 9)}


def test_momentum_by_hand() -> None:
    # minutes ending at T - 1 h ... T (a candle is priced when it ends); the last closes +1 %
    starts = list(range(T - 3660, T, 60))
    closes = [100.0] * (len(starts) - 1) + [101.0]
    idx, _ = sentiment_index(NO_NEWS, _candles(starts, closes), [T])
    r = math.log(1.01)
    assert idx.row(0, named=True)["momentum_c"] == pytest.approx(100 / (1 + math.exp(-r / 0.01)))
    assert idx.row(0, named=True)["momentum_c"] == pytest.approx(73.0, abs=0.1)


def test_volatility_by_hand() -> None:
    # A day of ±a returns each minute, the last hour ±2a: the hour's variance rate is 4a²/60 per
    # second, the day's (1380·a² + 60·4a²) / (1440·60).
    a = 0.001
    starts = list(range(T - 86_460, T, 60))  # minutes ending T - 1 d ... T
    rets = [a * (-1) ** k * (2 if s + 60 > T - 3600 else 1) for k, s in enumerate(starts[1:])]
    closes = [100.0]
    for r in rets:
        closes.append(closes[-1] * math.exp(r))
    idx, _ = sentiment_index(NO_NEWS, _candles(starts, closes), [T])
    q = math.sqrt((4 / 60) / ((1380 + 240) / (1440 * 60)))
    assert idx.row(0, named=True)["volatility_c"] == pytest.approx(100 / (1 + q), rel=1e-6)
    # calm relative to the day scores higher than 50, agitated lower
    assert idx.row(0, named=True)["volatility_c"] < 50


def test_weights_are_validated_and_used() -> None:
    with pytest.raises(ValueError):
        IndexWeights(sentiment=-1)
    with pytest.raises(ValueError):
        IndexWeights(0, 0, 0, 0)
    news = _news([("x", T, 1.0)])
    only_sentiment = IndexWeights(sentiment=1, volume=0, momentum=0, volatility=0)
    idx, why = sentiment_index(news, NO_CANDLES, [T], weights=only_sentiment)
    assert idx.row(0, named=True)["index"] == pytest.approx(100.0)
    assert why.get_column("contribution").to_list() == [pytest.approx(50.0)]
    assert DEFAULT_WEIGHTS.total == pytest.approx(1.0)


news_rows = st.lists(
    st.tuples(
        st.integers(-30 * 3600, 600),
        st.one_of(st.none(), st.floats(-1.5, 1.5, allow_nan=False)),
    ),
    max_size=40,
)
price_rows = st.lists(
    st.tuples(st.integers(-30 * 60, 10), st.floats(1, 1e6, allow_nan=False)),
    max_size=60,
    unique_by=lambda r: r[0],
)
times = st.lists(st.integers(-2 * 3600, 600), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(news_rows, price_rows, times, st.randoms(use_true_random=False))
def test_index_is_bounded_and_invariant_under_row_order(
    nrows: list[tuple[int, float | None]],
    prows: list[tuple[int, float]],
    at: list[int],
    rnd: st.random.Random,
) -> None:
    news = _news([(f"a{k}", T + dt, s) for k, (dt, s) in enumerate(nrows)])
    candles = _candles([T + 60 * k for k, _ in prows], [c for _, c in prows])
    ts = [T + dt for dt in at]
    idx, why = sentiment_index(news, candles, ts)
    assert idx.height == len(set(ts))
    for col in ("index", "sentiment_c", "volume_c", "momentum_c", "volatility_c"):
        values = idx.get_column(col).to_list()
        assert all(v is not None and 0.0 <= v <= 100.0 for v in values), col
    assert all(n <= 5 for n in why.group_by("time").len().get_column("len").to_list())
    shuffled_news = news.sample(fraction=1.0, shuffle=True, seed=rnd.randint(0, 2**31))
    shuffled_candles = candles.sample(fraction=1.0, shuffle=True, seed=rnd.randint(0, 2**31))
    rnd.shuffle(ts)
    idx2, why2 = sentiment_index(shuffled_news, shuffled_candles, ts)
    assert idx.equals(idx2) and why.equals(why2)
    # each time's values do not depend on which other times are asked for (batch splits)
    alone, why_alone = sentiment_index(news, candles, ts[:1])
    assert alone.equals(idx.filter(pl.col("time") == ts[0]))
    assert why_alone.equals(why.filter(pl.col("time") == ts[0]))


@settings(max_examples=30, deadline=None)
@given(times)
def test_no_data_is_fifty_at_any_time(at: list[int]) -> None:
    idx, why = sentiment_index(NO_NEWS, NO_CANDLES, [T + dt for dt in at])
    assert set(idx.get_column("index").to_list()) == {50.0}
    assert why.is_empty()

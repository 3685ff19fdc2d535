"""Topic/term volumes and burst scores: hand-computed examples and batch-split invariance."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from btcpulse.analytics.bursts import (
    BURST_SCHEMA,
    VOLUME_SCHEMA,
    bursts,
    merge_volumes,
    term_volumes,
    topic_volumes,
)

T0 = datetime(2025, 12, 12, tzinfo=UTC)
S0 = int(T0.timestamp())  # a multiple of 86400
HOUR = 3600
NEWS: dict[str, type[pl.DataType] | pl.DataType] = {
    "id": pl.String,
    "published_at": pl.Datetime("us", "UTC"),
    "topics": pl.List(pl.String),
    "title": pl.String,
}


def _news(rows: Sequence[tuple[str, datetime, list[str] | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=NEWS, orient="row")


def _vol(rows: list[tuple[str, int, int]], resolution_s: int = HOUR) -> pl.DataFrame:
    return pl.DataFrame(
        [(k, s, resolution_s, c) for k, s, c in rows], schema=VOLUME_SCHEMA, orient="row"
    )


def test_hourly_topic_then_a_burst_scores_eight() -> None:
    rows = [(f"a{i}", T0 + timedelta(hours=i, minutes=7), ["regulation"], "") for i in range(24)]
    rows += [(f"b{j}", T0 + timedelta(hours=24, minutes=j), ["regulation"], "") for j in range(9)]
    vol = topic_volumes(_news(rows), HOUR)
    assert vol.height == 25 and vol["count"].to_list() == [1] * 24 + [9]
    burst_hour = S0 + 24 * HOUR
    got = bursts(vol, [burst_hour + 1234], HOUR, baseline=24, min_std=1.0)
    assert got.schema == pl.Schema(BURST_SCHEMA)
    assert got.row(0) == ("regulation", burst_hour, HOUR, 9, 1.0, 0.0, 8.0)
    assert bursts(vol, [burst_hour], HOUR)["z"].item() > 3.0  # Z_ALERT


def test_baseline_statistics_missing_windows_and_idle_keys() -> None:
    w = S0 + 10 * HOUR
    vol = _vol(
        [
            ("a", w - 4 * HOUR, 1),
            ("a", w - 3 * HOUR, 3),
            ("a", w - 2 * HOUR, 1),
            ("a", w - HOUR, 3),
            ("a", w, 5),
            ("b", w - 4 * HOUR, 2),  # w-3h and w-2h missing: they count as 0
            ("b", w - HOUR, 2),
            ("b", w, 4),
            ("c", w - 9 * HOUR, 7),  # outside the baseline of every touched window
            ("a", w - 5 * HOUR, 100),  # too old for every baseline
        ]
    )
    got = {(r["key"], r["start"]): r for r in bursts(vol, [w, w + HOUR], HOUR, 4).to_dicts()}
    a, b, c = got["a", w], got["b", w], got["c", w]
    assert (a["count"], a["mean"], a["std"], a["z"]) == (5, 2.0, 1.0, 3.0)
    assert (b["count"], b["mean"], b["std"], b["z"]) == (4, 1.0, 1.0, 3.0)
    assert (c["count"], c["mean"], c["std"], c["z"]) == (0, 0.0, 0.0, 0.0)
    # w+1h: baseline a = [3, 1, 3, 5] → mean 3, std √2; count 0
    nxt = got["a", w + HOUR]
    assert (nxt["count"], nxt["mean"], nxt["std"]) == (0, 3.0, math.sqrt(2.0))
    assert nxt["z"] == pytest.approx(-3.0 / math.sqrt(2.0))
    # a std below min_std is replaced by it
    small = bursts(vol.filter(pl.col("key") == "b"), [w], HOUR, 4, min_std=2.0)
    assert small["z"].item() == 1.5
    assert len(got) == 6
    sparse = bursts(vol, [w, w + HOUR], HOUR, 4, dense=False)
    assert sparse.select("key", "start").rows() == [
        ("a", w),
        ("a", w + HOUR),
        ("b", w),
        ("b", w + HOUR),
    ]


def test_bursts_edges() -> None:
    vol = _vol([("a", S0, 2)])
    assert bursts(vol, [], HOUR).is_empty()
    assert bursts(_vol([]), [S0], HOUR).schema == pl.Schema(BURST_SCHEMA)
    # rows of another resolution are ignored; duplicated (key, start) rows add up
    mixed = pl.concat([vol, vol, _vol([("a", S0, 50)], resolution_s=900)])
    assert bursts(mixed, [S0], HOUR)["count"].item() == 4
    with pytest.raises(ValueError, match="baseline"):
        bursts(vol, [S0], HOUR, baseline=0)
    with pytest.raises(ValueError, match="min_std"):
        bursts(vol, [S0], HOUR, min_std=0.0)


def test_topic_volumes_count_an_article_once_per_topic() -> None:
    news = _news(
        [
            ("x", T0 + timedelta(minutes=14), ["regulation", "regulation", "legal"], ""),
            ("x", T0 + timedelta(minutes=14), ["regulation"], ""),  # a replayed row
            ("y", T0 + timedelta(minutes=15), ["regulation"], ""),
            ("z", T0, [], ""),
            ("n", T0, None, ""),
        ]
    )
    got = topic_volumes(news, 900)
    assert got.schema == pl.Schema(VOLUME_SCHEMA)
    assert got.rows() == [
        ("legal", S0, 900, 1),
        ("regulation", S0, 900, 1),
        ("regulation", S0 + 900, 900, 1),
    ]
    assert topic_volumes(news.head(0), 900).schema == pl.Schema(VOLUME_SCHEMA)


def test_term_volumes_words_stop_words_and_digits() -> None:
    news = _news(
        [
            ("a", T0, None, "Bitcoin ETF inflows hit $1B in 2025 as bitcoin rallies to the moon"),
            ("b", T0, None, "L'ETF bitcoin de BlackRock et les régulateurs: 90K, 2025"),
            ("c", T0, None, None),
        ]
    )
    got = dict(
        term_volumes(news, HOUR).select("key", "count").iter_rows()
    )  # one window: key → count
    assert got == {
        "term:bitcoin": 2,
        "term:etf": 2,
        "term:inflows": 1,
        "term:hit": 1,
        "term:rallies": 1,
        "term:moon": 1,
        "term:blackrock": 1,
        "term:régulateurs": 1,
        "term:90k": 1,
    }
    longer = term_volumes(news, HOUR, min_len=5)["key"].to_list()
    assert "term:etf" not in longer and "term:bitcoin" in longer


@st.composite
def _articles(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 60))
    topics = st.lists(st.sampled_from(["regulation", "legal", "mining", "etf"]), max_size=3)
    words = st.lists(st.sampled_from(["bitcoin", "etf", "hack", "sec", "the", "2025"]), max_size=5)
    rows = [
        (
            f"id{i}",
            T0 + timedelta(seconds=draw(st.integers(0, 30 * HOUR))),
            draw(topics),
            " ".join(draw(words)),
        )
        for i in range(n)
    ]
    return _news(rows)


@settings(max_examples=60, deadline=None)
@given(articles=_articles(), data=st.data())
def test_order_and_batch_split_invariance(articles: pl.DataFrame, data: st.DataObject) -> None:
    res = data.draw(st.sampled_from([900, HOUR]))
    baseline = data.draw(st.integers(1, 30))
    windows = data.draw(st.lists(st.integers(S0, S0 + 31 * HOUR), max_size=4))
    whole = merge_volumes(topic_volumes(articles, res), term_volumes(articles, res))
    expected = bursts(whole, windows, res, baseline)

    order = data.draw(st.permutations(range(articles.height)))
    shuffled = articles[list(order)] if articles.height else articles
    cuts = sorted(data.draw(st.lists(st.integers(0, articles.height), max_size=4)))
    bounds = [0, *cuts, articles.height]
    parts = [shuffled[a:b] for a, b in itertools.pairwise(bounds)]
    per_batch = [topic_volumes(p, res) for p in parts] + [term_volumes(p, res) for p in parts]
    union = pl.concat(per_batch, how="vertical")
    union = union[list(data.draw(st.permutations(range(union.height))))]

    assert_frame_equal(merge_volumes(*per_batch), whole)
    assert_frame_equal(bursts(union, windows, res, baseline), expected)
    nonzero = expected.filter((pl.col("count") > 0) | (pl.col("mean") > 0))
    assert_frame_equal(bursts(union, windows, res, baseline, dense=False), nonzero)
    # touched windows scored one at a time give the same rows
    if not expected.is_empty():
        one_by_one = pl.concat(
            [bursts(union, [w], res, baseline) for w in windows], how="vertical"
        ).unique(maintain_order=True)
        assert_frame_equal(one_by_one.sort("key", "start"), expected)
    # z agrees with a direct computation
    for r in expected.to_dicts()[:5]:
        past = dict(whole.filter(pl.col("key") == r["key"]).select("start", "count").iter_rows())
        xs = [past.get(r["start"] - k * res, 0) for k in range(1, baseline + 1)]
        mean = sum(xs) / baseline
        std = math.sqrt(sum((x - mean) ** 2 for x in xs) / baseline)
        assert r["mean"] == pytest.approx(mean) and r["std"] == pytest.approx(std)
        assert r["z"] == pytest.approx((r["count"] - mean) / max(std, 1.0))

"""The merge rule for copies of one article: order-free, batching-free, idempotent; and the
engine storing one row per article whatever the arrival order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import drain_engine, make_engine
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.config import Settings
from btcpulse.engines.news import COLUMNS, copy_rows, fold, merge
from btcpulse.events import NewsItem, article_id, encode
from btcpulse.store import schema as t
from btcpulse.store.db import Store

URL = "https://www.theblock.co/post/382433/crypto-giant-tether-offers-to-buy-juventus"
T_FEED = datetime(2025, 12, 12, 21, 25, 59, tzinfo=UTC)
FETCHED = datetime(2025, 12, 12, 21, 40, tzinfo=UTC)
BODY = "Tether, already a minority shareholder in Juventus, is prepared to invest 1 billion Euros."


def _copy(**kw: Any) -> NewsItem:
    fields: dict[str, Any] = {
        "id": article_id(URL),
        "source": "theblock",
        "url": URL,
        "title": "Crypto giant Tether offers to buy famous Italian football club Juventus",
        "summary": "Tether, already a minority shareholder in Juventus.",
        "published_at": T_FEED,
        "fetched_at": FETCHED,
        **kw,
    }
    return NewsItem(**fields)


# the feed's copy had no time (fetched time, flagged); the article stage found the page's time
FEED = _copy(published_at=FETCHED, time_estimated=True)
ARTICLE = _copy(body=BODY, author="RT Watson")
ARTICLE_TIMED = _copy(body=BODY, author="RT Watson", published_at=T_FEED)
SECOND_SOURCE = _copy(
    source="reddit",
    url=URL + "?utm_source=reddit",
    title="Tether wants to buy Juventus",
    summary="",
    published_at=T_FEED + timedelta(hours=1),
    fetched_at=FETCHED + timedelta(hours=1),
)
COPIES = [FEED, ARTICLE_TIMED, SECOND_SOURCE, ARTICLE]


def _folded(items: list[NewsItem]) -> dict[str, Any]:
    return fold(copy_rows(items))[article_id(URL)]


def test_the_rule_on_the_four_copies() -> None:
    row = _folded(COPIES)
    assert (row["source"], row["url"], row["title"]) == ("theblock", URL, FEED.title)
    assert row["published_at"] == T_FEED and row["time_estimated"] is False
    assert (row["body"], row["author"]) == (BODY, "RT Watson")
    assert row["summary"] == FEED.summary and row["lang"] == "en"
    # an estimated time never beats a real one, even an earlier estimate
    early_guess = _copy(published_at=T_FEED - timedelta(days=1), time_estimated=True)
    assert _folded([early_guess, SECOND_SOURCE])["source"] == "reddit"


@given(st.permutations(COPIES), st.integers(1, 4), st.booleans())
def test_merge_is_independent_of_order_batching_and_repeats(
    order: list[NewsItem], cut: int, repeat: bool
) -> None:
    expected = _folded(COPIES)
    # two batches, the second merged into the first's result (as with the stored row)
    first, second = fold(copy_rows(order[:cut])), fold(copy_rows(order[cut:]))
    key = article_id(URL)
    got = first[key] if key not in second else merge(first[key], second[key])
    if repeat:  # reprocessing: every copy again on top of the stored row
        got = merge(got, _folded(order))
    assert got == expected


@pytest.mark.parametrize("order", list(itertools.permutations(range(3)))[::2])
def test_engine_stores_one_row_whatever_the_arrival_order(
    settings: Settings, store: Store, bus: EmbeddedLog, order: tuple[int, ...]
) -> None:
    copies = [FEED, ARTICLE_TIMED, SECOND_SOURCE]
    engine, p = make_engine(settings, store, bus), bus.producer()
    for i in order:  # one copy per micro-batch: each merges with the stored row
        p.produce(settings.topic_news, encode(copies[i]))
        p.flush()
        while engine.run_once():
            pass
    with store.read() as conn:
        rows = conn.execute(select(*[getattr(t.news.c, c) for c in COLUMNS])).all()
    assert len(rows) == 1
    stored = {c: getattr(rows[0], c) for c in COLUMNS}
    expected = _folded(copies)
    assert {k: stored[k] for k in expected} == expected


def test_api_lists_article_fields_and_serves_the_body_as_text(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    from fastapi.testclient import TestClient

    from btcpulse.web.app import create_app

    other = _copy(
        id=article_id("https://example.com/btc"),
        url="https://example.com/btc",
        title="Bitcoin Plunges Below $90K as AI Worries Drag Nasdaq, Crypto Stocks Down",
        summary="",
        body="<script>alert(1)</script> Bitcoin fell.",
    )
    p = bus.producer()
    for ev in [FEED, ARTICLE_TIMED, other]:
        p.produce(settings.topic_news, encode(ev))
    p.flush()
    drain_engine(settings, store, bus)
    with TestClient(create_app(settings)) as c:
        items = {i["id"]: i for i in c.get("/api/v1/news").json()["items"]}
        assert "body" not in items[FEED.id]
        got = items[FEED.id]
        assert (got["author"], got["has_body"], got["time_estimated"]) == ("RT Watson", True, False)
        assert (got["lang"], got["relevant"]) == ("en", False)
        assert items[other.id]["relevant"] is True
        only = c.get("/api/v1/news", params={"relevant": "true"}).json()["items"]
        assert [i["id"] for i in only] == [other.id]
        one = c.get(f"/api/v1/news/{other.id}")
        assert one.status_code == 200 and one.headers["content-type"] == "application/json"
        assert one.json()["body"] == other.body  # JSON text, never rendered here as HTML
        assert c.get("/api/v1/news/nope").status_code == 404

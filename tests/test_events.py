from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from btcpulse.events import (
    DeadLetter,
    NewsItem,
    Trade,
    article_id,
    canonical_url,
    encode,
    parse_event,
)


def _trade(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": "trade",
        "exchange": "coinbase",
        "symbol": "BTC-USD",
        "trade_id": "1",
        "price": "68900.50",
        "size": "0.0015",
        "side": "buy",
        "time": "2026-04-07T14:30:02.789012Z",
    }
    base.update(kw)
    return base


def test_round_trip_keeps_decimal_strings_and_microseconds() -> None:
    import json

    ev = parse_event(json.dumps(_trade()).encode())
    assert isinstance(ev, Trade)
    assert ev.price == "68900.50" and ev.size == "0.0015"
    assert ev.time == datetime(2026, 4, 7, 14, 30, 2, 789012, tzinfo=UTC)
    assert ev.schema_version == 1
    assert parse_event(encode(ev)) == ev


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "Invalid JSON"),
        (b'{"type": "nope"}', "does not match any of the expected tags"),
        (b'{"type":"trade","exchange":"x"}', "Field required"),
    ],
)
def test_bad_input_becomes_a_dead_letter_with_its_reason(raw: bytes, reason: str) -> None:
    ev = parse_event(raw, source="news.raw[0]@7")
    assert isinstance(ev, DeadLetter)
    assert reason in ev.reason
    assert ev.source == "news.raw[0]@7"
    assert ev.payload == raw.decode()


def test_naive_times_and_bad_numbers_are_refused() -> None:
    import json

    naive = parse_event(json.dumps(_trade(time="2026-04-07T14:30:02")).encode())
    assert isinstance(naive, DeadLetter) and "timezone" in naive.reason
    nan = parse_event(json.dumps(_trade(price="NaN")).encode())
    assert isinstance(nan, DeadLetter) and "price" in nan.reason
    neg = parse_event(json.dumps(_trade(size="-1")).encode())
    assert isinstance(neg, DeadLetter)
    v2 = parse_event(json.dumps(_trade(schema_version=2)).encode())
    assert isinstance(v2, DeadLetter) and "schema_version" in v2.reason


def test_canonical_url_strips_tracking_and_fragment() -> None:
    a = "https://News.Example.COM/markets/2023/03/10/x/?utm_medium=referral&utm_source=rss#top"
    b = "https://news.example.com/markets/2023/03/10/x"
    assert canonical_url(a) == b
    assert article_id(a) == article_id(b)
    assert article_id(b + "?page=2") != article_id(b)


def test_news_item_replay_flag_follows_source() -> None:
    now = datetime.now(UTC)
    item = NewsItem(
        id="x",
        source="replay:coindesk",
        url="https://a/b",
        title="t",
        published_at=now,
        fetched_at=now,
    )
    assert item.replay
    assert not item.model_copy(update={"source": "coindesk"}).replay


@given(st.binary(max_size=2000))
def test_parse_event_never_raises(raw: bytes) -> None:
    ev = parse_event(raw)
    assert ev.type in {"news", "trade", "bar", "update", "deadletter"}

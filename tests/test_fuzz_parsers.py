"""Fuzzing the parsers (issue 10): news feeds (RSS/Atom, Reddit, Hacker News, CryptoPanic), the four
venues' WebSocket frames, bus messages (``parse_event``) and the engine's decoding of a batch.

Property, everywhere: any input either gives valid events or is rejected with a reason (a
``DeadLetter``), never an exception; and nothing is silent (each entry of a JSON listing is an
item or a dead letter; each message of an engine batch is stored or recorded in ``errors``).

Inputs are real recorded documents and frames (``fixtures/``) mutated where it hurts (values
replaced by nasty ones, keys dropped or added, text cut), generated events and documents with
extreme fields, and plain junk. ``BTCPULSE_FUZZ_EXAMPLES`` sets the examples per test (default
150, a few seconds each; ``BTCPULSE_FUZZ_EXAMPLES=10000`` for a long run).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from conftest import FIXTURES
from fuzz_support import (
    EXAMPLES,
    FUZZ,
    NASTY_TEXT,
    NOW,
    check,
    events,
    feed_document,
    json_value,
    mutated_text,
    offset,
    tolerant,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from btcpulse.bus.base import Message
from btcpulse.collectors.news.parsers import PARSERS
from btcpulse.collectors.prices.venues import VENUES, make_venue
from btcpulse.events import Bar, DeadLetter, NewsItem, Trade, encode, event_from_dict, parse_event
from btcpulse.testing.fake_exchange import recorded_frames

MARKET = FIXTURES / "market"
pytestmark = pytest.mark.timeout(max(300, EXAMPLES // 10))  # the long runs take longer

# -- news documents -------------------------------------------------------------------------------
LISTINGS = {  # kind: (fixture, path to the entries)
    "reddit": ("reddit_r_bitcoin_new.json", ("data", "children")),
    "hn": ("hn_algolia_search_by_date_bitcoin.json", ("hits",)),
    "cryptopanic": ("cryptopanic_v1_posts_btc.json", ("results",)),
}


@functools.cache
def listing(kind: str) -> str:
    """The recorded listing, cut to its first three entries (mutations then hit them often)."""
    file, path = LISTINGS[kind]
    doc = json.loads((FIXTURES / file).read_text())
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = node[path[-1]][:3]
    return json.dumps(doc)


def _entries(body: str, path: tuple[str, ...]) -> list[Any] | None:
    try:
        node: Any = json.loads(body)
    except ValueError:
        return None
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, list) else None


@FUZZ
@given(st.sampled_from(sorted(LISTINGS)), st.data())
@tolerant
def test_json_listings_give_items_or_reasons(kind: str, data: st.DataObject) -> None:
    body = mutated_text(data, listing(kind))
    raw = body.encode("utf-8", errors="surrogatepass")
    items, letters = PARSERS[kind](raw, source=kind, fetched_at=NOW)
    check(items, letters)
    entries = _entries(body, LISTINGS[kind][1])
    if entries is not None:  # nothing lost, nothing silent: every entry is accounted for
        assert len(items) + len(letters) == len(entries)
    else:
        assert not items and len(letters) == 1


@FUZZ
@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=300) | st.text(max_size=300))
@tolerant
def test_news_parsers_take_any_bytes(kind: str, body: bytes | str) -> None:
    raw = body.encode("utf-8", errors="surrogatepass") if isinstance(body, str) else body
    items, letters = PARSERS[kind](raw, source=kind, fetched_at=NOW)
    check(items, letters)
    assert items or letters  # junk is never silently nothing


@FUZZ
@given(feed_document())
@tolerant
def test_generated_feeds_give_items_or_reasons(body: bytes) -> None:
    check(*PARSERS["rss"](body, source="feed", fetched_at=NOW))


@FUZZ
@given(st.data())
@tolerant
def test_mutated_recorded_feed(data: st.DataObject) -> None:
    text = (FIXTURES / "coindesk_rss_2026-09-25_trimmed3.xml").read_text()
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 40))
    junk = data.draw(st.sampled_from(NASTY_TEXT) | st.text(max_size=20))
    body = (text[:at] + junk + text[at + cut :]).encode("utf-8", "surrogatepass")
    check(*PARSERS["rss"](body, source="coindesk", fetched_at=NOW))


# -- exchange frames ------------------------------------------------------------------------------
@functools.cache
def frames(venue: str) -> list[str]:
    """Recorded frames of a venue that carry trades (the ones worth mutating)."""
    files = {
        "binance": [MARKET / "binance_ws_2021-10-12_sample.jsonl"],
        "bitstamp": [MARKET / "bitstamp_ws_2022-01-05_sample.jsonl"],
        "kraken": [MARKET / "kraken_ws_v1_2021-04-17_sample.jsonl"],
    }
    out = [f for path in files.get(venue, []) for f in recorded_frames(path)]
    if venue == "kraken":
        out.append((MARKET / "kraken_v2_ws_trade_update.json").read_text())
    if venue == "coinbase":
        out.append((FIXTURES / "coinbase_advanced_trade_ws_market_trades.json").read_text())
    with_trades = [f for f in out if make_venue(venue).parse(f).trades]
    assert with_trades, venue
    return with_trades


def check_frame(venue: str, raw: str | bytes) -> None:
    frame = make_venue(venue).parse(raw)
    check(frame.trades, frame.letters)
    assert all(tr.exchange == venue for tr in frame.trades)


@FUZZ
@given(st.sampled_from(sorted(VENUES)), st.data())
@tolerant
def test_mutated_venue_frames_give_trades_or_reasons(venue: str, data: st.DataObject) -> None:
    check_frame(venue, mutated_text(data, data.draw(st.sampled_from(frames(venue)))))


@FUZZ
@given(st.sampled_from(sorted(VENUES)), json_value)
@tolerant
def test_venue_frames_take_any_json(venue: str, doc: Any) -> None:
    check_frame(venue, json.dumps(doc))
    check_frame(venue, json.dumps(doc).encode("utf-8", "surrogatepass"))


# -- bus messages ---------------------------------------------------------------------------------
@FUZZ
@given(events(st.datetimes(timezones=offset)), st.data())
@tolerant
def test_bus_messages_parse_to_events_or_dead_letters(ev: Any, data: st.DataObject) -> None:
    check([ev], [])
    wire = mutated_text(data, encode(ev).decode())
    raw = wire.encode("utf-8", "surrogatepass")
    got = parse_event(raw, source="fuzz")
    if isinstance(got, DeadLetter) and got.stage == "parse":
        assert got.source == "fuzz" and got.reason.strip()
        with pytest.raises(ValueError):  # the reason is real: not JSON text, or not an event
            obj = json.loads(wire)
            json.dumps(obj, ensure_ascii=False).encode()  # a lone surrogate is not text
            event_from_dict(obj)
    elif not isinstance(got, DeadLetter):  # a dead letter travelling on the bus is valid too
        check([got], [])


@FUZZ
@given(st.binary(max_size=500) | json_value.map(lambda v: json.dumps(v).encode("utf-8", "ignore")))
@tolerant
def test_bus_junk_is_a_dead_letter(raw: bytes) -> None:
    got = parse_event(raw, source="fuzz")
    if isinstance(got, DeadLetter):
        assert got.reason.strip()
    else:
        check([got], [])


# -- the engine's decoding of a batch -------------------------------------------------------------
# times the engine windows (the extreme ones are the bus tests' business)
sane_time = st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1), timezones=offset)


@pytest.fixture(scope="module")
def engine_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from btcpulse.analytics.sentiment import make_scorer
    from btcpulse.store.db import Store

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('fuzz-engine') / 'store.db'}")
    store.migrate()
    yield store, make_scorer("default")
    store.dispose()


def _stored(conn: Any, ev: Any, place: str, errors: dict[str, str]) -> bool:
    from sqlalchemy import select

    from btcpulse.store import schema as t

    if isinstance(ev, NewsItem):
        return conn.execute(select(t.news.c.id).where(t.news.c.id == ev.id)).first() is not None
    if isinstance(ev, Trade):
        c = t.trades.c
        key = (c.exchange == ev.exchange) & (c.symbol == ev.symbol) & (c.trade_id == ev.trade_id)
        return conn.execute(select(c.trade_id).where(key)).first() is not None
    if isinstance(ev, Bar):
        b = t.bars.c
        key = (b.venue == ev.venue) & (b.symbol == ev.symbol) & (b.interval_s == ev.interval_s)
        return conn.execute(select(b.venue).where(key)).first() is not None
    if isinstance(ev, DeadLetter) and ev.stage != "parse":
        return ev.error_id in errors  # a dead letter sent on the bus: kept as it is
    return place in errors.values()  # unparsable, or an update on a data topic: its place


@settings(FUZZ, max_examples=max(10, EXAMPLES // 5))
@given(st.lists(events(sane_time) | st.binary(max_size=60), min_size=1, max_size=6), st.data())
@tolerant
def test_engine_batches_store_every_message_or_its_reason(
    engine_store: Any, batch: list[Any], data: st.DataObject
) -> None:
    from sqlalchemy import select

    from btcpulse.engines.batch import apply_batch
    from btcpulse.store import schema as t

    store, scorer = engine_store
    values = [
        v if isinstance(v, bytes) else encode(v) if data.draw(st.booleans()) else
        mutated_text(data, encode(v).decode()).encode("utf-8", "surrogatepass")
        for v in batch
    ]  # fmt: skip
    topics = ("news.raw", "prices.ticks")  # the engine reads any event from either
    msgs = [Message(topics[i % 2], 0, i, None, v, 0) for i, v in enumerate(values)]
    with store.engine.connect() as conn:
        trans = conn.begin()  # rolled back: every example starts from the same empty store
        try:
            outcome = apply_batch(conn, msgs, scorer, "deadletters")
            errors = dict(conn.execute(select(t.errors.c.id, t.errors.c.source)).all())
            for m in msgs:
                place = f"{m.topic}[0]@{m.offset}"
                ev = parse_event(m.value, source=place)
                assert _stored(conn, ev, place, errors), (m.topic, m.value[:300])
            for letter in outcome.dead_letters:
                assert letter.error_id in errors and letter.reason
            for update in outcome.updates:  # what the browsers get is strict JSON
                json.dumps(update.data, allow_nan=False)
        finally:
            trans.rollback()


# -- the inputs that broke the parsers, now regression cases --------------------------------------
def _rss(link: str = "https://a.example/x", when: str = "") -> bytes:
    return (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><title>a</title>'
        f'<link href="{link}"/><updated>{when}</updated></entry></feed>'
    ).encode()


def _listing(kind: str, entry: dict[str, Any]) -> bytes:
    path = LISTINGS[kind][1]
    doc: dict[str, Any] = (
        {"data": {"children": [entry]}} if kind == "reddit" else {path[0]: [entry]}
    )
    return json.dumps(doc).encode()


Outcome = tuple[list[Any], list[str]]  # valid events, reasons of the rejections


def _news(kind: str, body: bytes) -> Outcome:
    items, letters = PARSERS[kind](body, source="s", fetched_at=NOW)
    check(items, letters)
    return items, [x.reason for x in letters]


def _bus(raw: bytes) -> Outcome:
    ev = parse_event(raw)
    return ([], [ev.reason]) if isinstance(ev, DeadLetter) else ([ev], [])


def _frame(venue: str, raw: str) -> Outcome:
    frame = make_venue(venue).parse(raw)
    check(frame.trades, frame.letters)
    return frame.trades, [x.reason for x in frame.letters]


def _engine_batch(value: bytes) -> Outcome:
    """One message through the engine's batch (in-memory store): stored, or its error row."""
    from sqlalchemy import select

    from btcpulse.analytics.sentiment import make_scorer
    from btcpulse.engines.batch import apply_batch
    from btcpulse.store import schema as t
    from btcpulse.store.db import Store

    store = Store("sqlite://")
    store.migrate()
    with store.begin() as conn:
        out = apply_batch(
            conn, [Message("prices.ticks", 0, 0, None, value, 0)], make_scorer("vader"), "dl"
        )
        reasons = [str(r) for r in conn.execute(select(t.errors.c.reason)).scalars()]
        bars = conn.execute(select(t.bars)).all()
    store.dispose()
    assert len(out.dead_letters) == len(reasons)
    return list(bars), reasons


TIME = '"time":"0001-01-01T00:00:00+01:00"'
SANE = '"time":"2026-01-01T00:00:00Z"'
TRADE = '{"trade_id":"1","product_id":"BTC-USD","price":"1","size":"1","side":"BUY",' + TIME + "}"
BAR = (
    '{"type":"bar","venue":"x","symbol":"s","interval_s":%d,"open":"1","high":"1","low":"1",'
    '"close":"1","volume":"1","open_time":"2026-01-01T00:00:00Z"}'
)
# name (with what it did before its fix): (the input's run, events expected, a word of every
# rejection's reason)
BROKE: dict[str, tuple[Callable[[], Outcome], int, str]] = {
    "bus: year 1 at +01:00 (was OverflowError, a poison message)": (lambda: _bus(
        b'{"type":"trade","exchange":"x","symbol":"s","trade_id":"1","price":"1","size":"1",'
        + TIME.encode() + b"}"
    ), 0, "out of range"),
    "bus: price 1e400 (was accepted, inf in the engine)": (lambda: _bus(
        b'{"type":"trade","exchange":"x","symbol":"s","trade_id":"1","price":"1e400",'
        b'"size":"1","time":"2026-01-01T00:00:00Z"}'
    ), 0, "float64"),
    "coinbase: price 1e400 (was accepted)": (lambda: _frame(
        "coinbase", '{"channel":"market_trades","events":[{"trades":['
        + TRADE.replace(TIME, SANE).replace('"1","size"', '"1e400","size"')
        + "]}]}"
    ), 0, "decimal"),
    "coinbase: year 1 at +01:00 (was OverflowError out of Venue.parse)": (lambda: _frame(
        "coinbase", '{"channel":"market_trades","events":[{"trades":[' + TRADE + "]}]}"
    ), 0, "out of range"),
    "kraken: a text frame with a lone surrogate (was ValidationError out of Venue.parse)": (
        lambda: _frame("kraken", '{"channel":"trade","data":[{"symbol":"\ud800"'), 0, "malformed"
    ),
    "coinbase: a list as product_id (was a Trade whose symbol is a list)": (lambda: _frame(
        "coinbase", '{"channel":"market_trades","events":[{"trades":['
        + TRADE.replace(TIME, SANE).replace('"BTC-USD"', '[""]') + "]}]}"
    ), 0, "bad trade id or symbol"),
    "engine: a bar of 17 s (was ValueError: the whole batch failed, after every restart)": (
        lambda: _engine_batch((BAR % 17).encode()), 0, "divide a day"
    ),
    "engine: a bar of 5 s is stored (control)": (lambda: _engine_batch((BAR % 5).encode()), 1, ""),
    "atom: year 1 at +01:00 (was ValueError): kept, time estimated": (lambda: _news(
        "rss", _rss(when="0001-01-01T00:00:00+01:00")
    ), 1, ""),
    "atom: a 5,000-character link (was ValidationError: the whole feed lost)": (lambda: _news(
        "rss", _rss("https://a.example/" + "a" * 5000)
    ), 0, "unusable entry"),
    "rss: invalid UTF-8 in a namespace URI (feedparser raised)": (lambda: _news("rss",
        b'<rss xmlns:c="\xed\xa0\x80x" version="2.0"><channel><title>t</title><item>'
        b"<title>a</title><c:e>x</c:e></item></channel></rss>",
    ), 0, "not a usable feed"),
    "reddit: a 5,000-character link (was ValidationError)": (lambda: _news("reddit", _listing(
        "reddit", {"kind": "t3", "data": {"title": "t", "url": "https://a.b/" + "a" * 5000}}
    )), 0, "unusable entry"),
    "reddit: a number as permalink (was AttributeError)": (lambda: _news("reddit", _listing(
        "reddit", {"kind": "t3", "data": {"title": "t", "permalink": 5}}
    )), 0, "without a link"),
    "reddit: a lone surrogate in the link (was UnicodeEncodeError)": (lambda: _news("reddit",
        _listing("reddit", {"kind": "t3", "data": {"title": "t", "url": "https://a.b/\ud800"}})
    ), 0, "unusable entry"),
    "reddit: deeply nested JSON (was RecursionError)": (
        lambda: _news("reddit", b"[" * 100_000), 0, "nested too deeply"
    ),
    "hn: a number as title (was TypeError)": (lambda: _news(
        "hn", _listing("hn", {"title": 5, "objectID": "1"})
    ), 0, "without a title"),
    "hn: created_at in year 1 at +01:00 (was OverflowError): kept, time estimated": (
        lambda: _news("hn", _listing(
            "hn", {"title": "t", "objectID": "1", "created_at": "0001-01-01T00:00:00+01:00"}
        )), 1, ""
    ),
    "cryptopanic: true as title (was AttributeError)": (lambda: _news("cryptopanic", _listing(
        "cryptopanic", {"title": True, "url": "https://a.b/x"}
    )), 0, "without a title"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BROKE))
def test_inputs_the_fuzzer_broke_are_used_or_refused(name: str) -> None:
    """Each input that once raised now gives valid events or a rejection with its reason."""
    run, n_events, word = BROKE[name]
    got, reasons = run()
    assert len(got) == n_events, (got, reasons)
    if n_events:
        assert not reasons, reasons
        if isinstance(got[0], NewsItem):
            assert got[0].time_estimated and got[0].published_at == NOW  # the time was unusable
    else:
        assert reasons and all(word in r for r in reasons), reasons

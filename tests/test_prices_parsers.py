"""Each venue's frame parser on real recorded frames (``fixtures/market``, see PROVENANCE.md):
normalised symbols, ids, decimal text kept as sent, UTC microsecond times; other channels give
nothing; anything malformed becomes a dead letter with its reason, never an exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from btcpulse.collectors.prices import binance, bitstamp, coinbase, kraken
from btcpulse.collectors.prices.venues import VENUES, make_venue
from btcpulse.events import Trade, encode
from btcpulse.testing.fake_exchange import recorded_frames

MARKET = FIXTURES / "market"
PARSERS = {"coinbase": coinbase, "binance": binance, "kraken": kraken, "bitstamp": bitstamp}


def _all(module: object, frames: list[str]) -> tuple[list[Trade], int]:
    trades, bad = [], 0
    for f in frames:
        got, letters = module.parse_frame(f)  # type: ignore[attr-defined]
        trades += got
        bad += len(letters)
    return trades, bad


def test_binance_recorded_combined_stream() -> None:
    frames = recorded_frames(MARKET / "binance_ws_2021-10-12_sample.jsonl")
    trades, bad = _all(binance, frames)
    assert bad == 0 and len(frames) == 16  # depth, bookTicker, kline give nothing
    first = trades[0]
    assert (first.exchange, first.symbol, first.trade_id) == ("binance", "NKN-USDT", "15683430")
    assert (first.price, first.size, first.side) == ("0.35280000", "58.00000000", "buy")
    assert first.time == datetime(2021, 10, 12, 0, 28, 43, 963000, tzinfo=UTC)
    assert [t.symbol for t in trades] == ["NKN-USDT", "LRC-BTC"]
    # the raw (/ws) form of the same event parses the same
    combined = next(f for f in frames if "@aggTrade" in f)
    assert binance.parse_frame(json.dumps(json.loads(combined)["data"]))[0] == [first]


def test_binance_raw_and_trade_stream_and_errors() -> None:
    agg = '{"e":"aggTrade","E":2,"s":"BTCUSDT","a":7,"p":"65000.10","q":"0.5","f":1,"l":2,"T":1700000000123,"m":true,"M":true}'  # noqa: E501
    (t,), _ = binance.parse_frame(agg)
    assert (t.symbol, t.trade_id, t.side, t.price) == ("BTC-USDT", "7", "sell", "65000.10")
    tr = '{"e":"trade","E":2,"s":"BTCFDUSD","t":9,"p":"1.0","q":"2.0","T":1700000000000,"m":false}'
    (t2,), _ = binance.parse_frame(tr)
    assert (t2.symbol, t2.trade_id, t2.side) == ("BTC-FDUSD", "9", "buy")
    assert binance.parse_frame('{"result":null,"id":1}') == ([], [])
    _, (err,) = binance.parse_frame('{"code":-1121,"msg":"Invalid symbol."}')
    assert "Invalid symbol" in err.reason


def test_kraken_v2_trade_update_keeps_the_numbers_text() -> None:
    trades, bad = kraken.parse_frame((MARKET / "kraken_v2_ws_trade_update.json").read_text())
    assert bad == []
    assert [(t.symbol, t.trade_id, t.price, t.size, t.side) for t in trades] == [
        ("BTC-USD", "10218208", "105944.20", "0.00027625", "buy"),
        ("BTC-USD", "10218209", "105910.50", "0.00012460", "sell"),
    ]
    assert trades[1].time == datetime(2023, 10, 6, 17, 35, 56, 123456, tzinfo=UTC)
    assert kraken.parse_frame((MARKET / "kraken_v2_ws_ticker_snapshot.json").read_text()) == (
        [],
        [],
    )
    for quiet in ['{"channel":"heartbeat"}', '{"method":"subscribe","success":true}']:
        assert kraken.parse_frame(quiet) == ([], [])
    _, (err,) = kraken.parse_frame('{"method":"subscribe","success":false,"error":"bad pair"}')
    assert "bad pair" in err.reason


def test_kraken_v1_recording() -> None:
    frames = recorded_frames(MARKET / "kraken_ws_v1_2021-04-17_sample.jsonl")
    trades, bad = _all(kraken, frames)
    assert bad == 0 and len(trades) == 10
    first = trades[0]
    assert (first.symbol, first.price, first.size, first.side) == (
        "XMR-USD",
        "354.11000000",
        "0.89594024",
        "sell",
    )
    assert first.time == datetime(2021, 4, 17, 16, 49, 2, 557535, tzinfo=UTC)
    assert all("XBT" not in t.symbol for t in trades)  # XBT is normalised to BTC
    assert len({t.trade_id for t in trades}) == len(trades)


def test_bitstamp_recording() -> None:
    frames = recorded_frames(MARKET / "bitstamp_ws_2022-01-05_sample.jsonl")
    trades, bad = _all(bitstamp, frames)
    assert bad == 0 and len(trades) == 10
    first = trades[0]
    assert (first.exchange, first.symbol, first.trade_id) == ("bitstamp", "ETH-USD", "216000477")
    assert (first.price, first.size, first.side) == ("3805.44", "0.07920000", "buy")
    assert first.time == datetime(2022, 1, 5, 0, 48, 19, 596000, tzinfo=UTC)
    assert bitstamp.Bitstamp().parse('{"event":"bts:request_reconnect"}').control == "reconnect"


def test_coinbase_market_trades_ticker_and_sequence() -> None:
    frame = (FIXTURES / "coinbase_advanced_trade_ws_market_trades.json").read_text()
    parsed = coinbase.Coinbase().parse(frame)
    assert parsed.seq == 5 and [t.trade_id for t in parsed.trades] == ["995098700", "995098701"]
    ticker = coinbase.Coinbase().parse(
        (MARKET / "coinbase_advanced_trade_ws_ticker.json").read_text()
    )
    assert ticker.trades == [] and ticker.letters == [] and ticker.seq == 12


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_fast_trades_equal_validated_ones(venue: str) -> None:
    """The parsers build trades without pydantic's per-field validation (speed): the result
    must be what validation gives, and survive the bus round trip."""
    for path in sorted(MARKET.glob("*.jsonl")):
        for f in recorded_frames(path):
            for t in make_venue(venue).parse(f).trades:
                again = Trade.model_validate_json(encode(t))
                assert again == t and encode(again) == encode(t)


@pytest.mark.parametrize("venue", sorted(VENUES))
@pytest.mark.parametrize(
    "raw",
    ["not json", "{garbage", "", "null", "[1,2,", b"\xff\xfe\x00"],
)
def test_garbage_is_a_dead_letter_with_its_reason(venue: str, raw: str | bytes) -> None:
    trades, letters = PARSERS[venue].parse_frame(raw)  # type: ignore[attr-defined]
    assert trades == [] and len(letters) == 1
    assert letters[0].reason.startswith("malformed frame: ") and letters[0].source == venue


@pytest.mark.parametrize("venue", sorted(VENUES))
@pytest.mark.parametrize("price", ["-1", "NaN", "Infinity", "1,5", "", "0x10"])
def test_bad_prices_are_refused(venue: str, price: str) -> None:
    frames = {
        "coinbase": {
            "channel": "market_trades",
            "events": [
                {
                    "trades": [
                        {
                            "trade_id": "1",
                            "product_id": "BTC-USD",
                            "price": price,
                            "size": "1",
                            "side": "BUY",
                            "time": "2026-01-01T00:00:00Z",
                        }
                    ]
                }
            ],
        },
        "binance": {"e": "aggTrade", "s": "BTCUSDT", "a": 1, "p": price, "q": "1", "T": 1, "m": 0},
        "kraken": {
            "channel": "trade",
            "data": [
                {
                    "symbol": "BTC/USD",
                    "side": "buy",
                    "price": price,
                    "qty": "1",
                    "trade_id": 1,
                    "timestamp": "2026-01-01T00:00:00Z",
                }
            ],
        },
        "bitstamp": {
            "event": "trade",
            "channel": "live_trades_btcusd",
            "data": {"id": 1, "price_str": price, "amount_str": "1", "microtimestamp": "1"},
        },
    }
    trades, letters = PARSERS[venue].parse_frame(json.dumps(frames[venue]))  # type: ignore[attr-defined]
    assert trades == [] and len(letters) == 1


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(VENUES)), st.text(max_size=200) | st.binary(max_size=200))
def test_parsers_never_raise(venue: str, raw: str | bytes) -> None:
    frame = make_venue(venue).parse(raw)
    assert all(isinstance(t, Trade) for t in frame.trades)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(VENUES)),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids),
        max_leaves=12,
    ),
)
def test_parsers_never_raise_on_any_json(venue: str, obj: object) -> None:
    make_venue(venue).parse(json.dumps(obj))


def test_epoch_times_are_exact_and_out_of_range_is_a_dead_letter() -> None:
    from btcpulse.collectors.prices.wire import from_ms, from_seconds_text, from_us

    assert from_ms(1796126663007) == datetime(2026, 12, 1, 12, 4, 23, 7000, tzinfo=UTC)
    assert from_us("1618678142557535") == datetime(2021, 4, 17, 16, 49, 2, 557535, tzinfo=UTC)
    assert from_seconds_text("1618678142.557535") == from_us(1618678142557535)
    assert from_ms(-1) == datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    huge = {"e": "aggTrade", "s": "BTCUSDT", "a": 1, "p": "1", "q": "1", "T": 10**20, "m": False}
    trades, letters = binance.parse_frame(json.dumps(huge))
    assert trades == [] and len(letters) == 1


@pytest.mark.parametrize(
    "text",
    [
        "1",
        "1.5",
        "1.",
        ".5",
        "0.000",
        "1e5",
        "1E-3",
        "\u0661\u0662",
        "\uff11.\uff15",
        "+1",
        "-1",
        ".",
        "1..2",
        "",
    ],
)
def test_decimal_fast_path_accepts_what_the_pattern_does(text: str) -> None:
    from btcpulse.collectors.prices.wire import _DECIMAL, decimal_str

    if _DECIMAL.fullmatch(text):
        assert decimal_str(text) == text
    else:
        with pytest.raises(ValueError):
            decimal_str(text)


def test_kraken_one_trade_fast_path_equals_the_general_one() -> None:
    tr = {"symbol": "BTC/USD", "side": "sell", "trade_id": 7, "timestamp": "2026-01-01T00:00:00Z"}
    one = json.dumps({"channel": "trade", "data": [{"qty": 0.50, "price": 105944.20, **tr}]})
    one = one.replace("0.5,", "0.50,").replace("105944.2,", "105944.20,")
    two = json.dumps({"channel": "trade", "data": [{"price": 1.0, "qty": 2, **tr}] * 2})
    (t,), _ = kraken.parse_frame(one)
    assert (t.price, t.size, t.side, t.trade_id) == ("105944.20", "0.50", "sell", "7")
    assert [(x.price, x.size) for x in kraken.parse_frame(two)[0]] == [("1.0", "2")] * 2

"""BTC-EUR beside BTC-USD: every venue that lists it streams it by default, each parser
normalises its EUR pair to ``BTC-EUR`` (frames in the venues' real shapes, the recorded
samples' pairs swapped for EUR), and the engine builds one composite per quote currency that
never mixes a euro price into a dollar one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from conftest import FIXTURES, drain_engine
from sqlalchemy import select

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.prices import binance, bitstamp, coinbase, kraken
from btcpulse.config import Settings
from btcpulse.events import Trade, encode
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.testing.fake_exchange import recorded_frames

MARKET = FIXTURES / "market"
T0 = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)


def test_eur_is_in_the_default_products_of_the_venues_that_list_it() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.coinbase_products == ["BTC-USD", "BTC-EUR"]
    assert s.kraken_products == ["BTC-USD", "BTC-EUR"]
    assert s.bitstamp_products == ["BTC-USD", "BTC-EUR"]
    assert s.binance_products == ["BTC-USDT", "BTC-EUR"]
    # and each venue subscribes to its native name for it
    assert "live_trades_btceur" in "".join(bitstamp.Bitstamp().subscribe_messages(["BTC-EUR"]))
    assert json.loads(kraken.Kraken().subscribe_messages(["BTC-USD", "BTC-EUR"])[0])["params"][
        "symbol"
    ] == ["BTC/USD", "BTC/EUR"]
    assert "btceur@aggTrade" in "".join(binance.Binance().subscribe_messages(["BTC-EUR"]))
    assert "BTC-EUR" in "".join(coinbase.Coinbase().subscribe_messages(["BTC-EUR"]))


def test_symbol_normalisation_handles_eur() -> None:
    assert binance.normalise("BTCEUR") == "BTC-EUR" and binance.native("BTC-EUR") == "BTCEUR"
    assert kraken.normalise("BTC/EUR") == "BTC-EUR" == kraken.normalise("XBT/EUR")
    assert kraken.ws_symbol("BTC-EUR") == "BTC/EUR" and kraken.rest_pair("BTC-EUR") == "XBTEUR"
    assert bitstamp.normalise("btceur") == "BTC-EUR" and bitstamp.native("BTC-EUR") == "btceur"


def test_each_parser_gives_btc_eur_trades() -> None:
    cb = json.loads((FIXTURES / "coinbase_advanced_trade_ws_market_trades.json").read_text())
    for tr in cb["events"][0]["trades"]:
        tr["product_id"] = "BTC-EUR"
    kr = json.loads((MARKET / "kraken_v2_ws_trade_update.json").read_text())
    for tr in kr["data"]:
        tr["symbol"] = "BTC/EUR"
    bs = next(
        json.loads(f)
        for f in recorded_frames(MARKET / "bitstamp_ws_2022-01-05_sample.jsonl")
        if '"event":"trade"' in f
    )
    bs["channel"] = "live_trades_btceur"
    bn = (
        '{"e":"aggTrade","E":2,"s":"BTCEUR","a":7,"p":"60000.10","q":"0.5","f":1,"l":2,'
        '"T":1700000000123,"m":false,"M":true}'
    )
    for module, frame in (
        (coinbase, json.dumps(cb)),
        (kraken, json.dumps(kr)),
        (bitstamp, json.dumps(bs)),
        (binance, bn),
    ):
        trades, letters = module.parse_frame(frame)  # type: ignore[attr-defined]
        assert trades and not letters, module
        assert {x.symbol for x in trades} == {"BTC-EUR"}, module


def _trade(venue: str, symbol: str, i: int, price: float, size: float) -> Trade:
    return Trade(
        exchange=venue,
        symbol=symbol,
        trade_id=str(i),
        price=f"{price:.2f}",
        size=str(size),
        side="buy",
        time=T0 + timedelta(seconds=i),
    )


def test_usd_and_eur_streams_give_two_composites_that_never_mix(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    p = bus.producer()
    usd = [("coinbase", 90_000.0, 1.0), ("kraken", 90_010.0, 3.0), ("bitstamp", 89_990.0, 2.0)]
    eur = [("coinbase", 77_000.0, 2.0), ("kraken", 77_020.0, 1.0), ("bitstamp", 76_990.0, 1.0)]
    trades = [_trade(v, "BTC-USD", 1, px, sz) for v, px, sz in usd]
    trades += [_trade(v, "BTC-EUR", 2, px, sz) for v, px, sz in eur]
    for tr in trades:
        p.produce(settings.topic_prices, encode(tr))
    p.flush()
    drain_engine(settings, store, bus)

    c, f = t.candles.c, t.composite_flags.c
    with store.read() as conn:
        comp = {
            r.symbol: r
            for r in conn.execute(
                select(t.candles).where(c.venue == "composite", c.resolution_s == 60)
            )
        }
        flags = {
            r.symbol: json.loads(r.flags)
            for r in conn.execute(select(t.composite_flags).where(f.resolution_s == 60))
        }
    assert set(comp) == {"BTC-USD", "BTC-EUR"}
    for symbol, rows in (("BTC-USD", usd), ("BTC-EUR", eur)):
        vwap = sum(px * sz for _, px, sz in rows) / sum(sz for _, _, sz in rows)
        got = comp[symbol]
        assert got.volume == sum(sz for _, _, sz in rows) and got.trades == 3
        assert abs(got.quote_volume / got.volume - vwap) < 1e-6
        assert min(px for _, px, _ in rows) == got.low and got.high == max(px for _, px, _ in rows)
        assert flags[symbol] == []  # no venue of one quote looks like an outlier of the other

"""Coinbase Advanced Trade collector against a local WebSocket server speaking the protocol:
subscribe handshake, market_trades frames, garbage, a dropped connection and a reconnect."""

from __future__ import annotations

import asyncio
import json

from conftest import FIXTURES, free_port
from sqlalchemy import select
from websockets.asyncio.server import ServerConnection, serve

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.prices.coinbase import CoinbaseCollector, parse_frame
from btcpulse.config import Settings
from btcpulse.events import DeadLetter, Trade, parse_event
from btcpulse.store import schema as t
from btcpulse.store.db import Store

FRAME = (FIXTURES / "coinbase_advanced_trade_ws_market_trades.json").read_text()


def test_parse_real_shape() -> None:
    trades, bad = parse_frame(FRAME)
    assert not bad
    assert [(x.trade_id, x.price, x.size, x.side) for x in trades] == [
        ("995098700", "68900.50", "0.00150000", "buy"),
        ("995098701", "68900.00", "0.05000000", "sell"),
    ]
    assert trades[0].symbol == "BTC-USD" and trades[0].time.microsecond == 789012


def test_other_channels_give_nothing_and_garbage_is_a_dead_letter() -> None:
    assert parse_frame('{"channel":"heartbeats","events":[]}') == ([], [])
    for raw in [
        "not json",
        "[1,2]",
        '{"channel":"market_trades","events":[{"trades":[{"price":"1"}]}]}',
    ]:
        trades, bad = parse_frame(raw)
        assert trades == [] and len(bad) == 1 and "malformed frame" in bad[0].reason


def test_stream_with_garbage_and_reconnect(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    subscribed: list[dict[str, object]] = []
    connections = 0

    async def venue(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        for _ in range(2):
            subscribed.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"channel": "subscriptions", "events": []}))
        if connections == 1:
            await ws.send(FRAME)
            await ws.send("{garbage")
            await ws.send(
                json.dumps({"channel": "heartbeats", "events": [{"heartbeat_counter": 1}]})
            )
            return  # server drops the connection
        frame = json.loads(FRAME)
        for tr in frame["events"][0]["trades"]:
            tr["trade_id"] = str(int(tr["trade_id"]) + 10)
        await ws.send(json.dumps(frame))
        await ws.wait_closed()

    async def scenario() -> None:
        async with serve(venue, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            s = settings.model_copy(
                update={
                    "coinbase_ws_url": f"ws://127.0.0.1:{port}",
                    "coinbase_products": ["BTC-USD"],  # the default adds BTC-EUR
                    # nothing listens there: the backfill after the reconnect fails, recorded
                    "coinbase_rest_url": f"http://127.0.0.1:{free_port()}",
                }
            )
            collector = CoinbaseCollector(s, bus.producer(), store)
            stop = asyncio.Event()
            task = asyncio.create_task(collector.run(stop))
            consumer = bus.consumer("check")
            consumer.subscribe([s.topic_prices, s.topic_deadletters])
            got: list[Trade | DeadLetter] = []
            for _ in range(300):
                got += [parse_event(m.value) for m in consumer.poll(0.0, 100)]  # type: ignore[misc]
                if sum(isinstance(g, Trade) for g in got) >= 4:
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(task, 35)
        trades = [g for g in got if isinstance(g, Trade)]
        letters = [g for g in got if isinstance(g, DeadLetter)]
        assert [x.trade_id for x in trades] == ["995098700", "995098701", "995098710", "995098711"]
        assert [(x.stage, x.source) for x in letters] == [
            ("collect", "coinbase"),  # the garbage frame
            ("backfill", "coinbase"),  # the backfill after the reconnect found no REST server
        ]
        assert connections == 2
        assert subscribed[0] == {
            "type": "subscribe",
            "product_ids": ["BTC-USD"],
            "channel": "market_trades",
        }
        assert subscribed[1]["channel"] == "heartbeats"
        with store.read() as conn:
            h = conn.execute(
                select(t.source_health).where(t.source_health.c.name == "coinbase")
            ).one()
        assert h.status == "up" and h.last_error is not None  # the drop was recorded, then healed

    asyncio.run(scenario())

"""Coinbase Advanced Trade WebSocket (``market_trades``) → ``Trade`` events.

Subscribes to ``market_trades`` and ``heartbeats`` for the configured products; reconnects
with jittered backoff; malformed frames become dead letters and never stop the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import structlog
import websockets
from pydantic import ValidationError

from btcpulse.bus.base import Producer
from btcpulse.collectors.backoff import Backoff
from btcpulse.collectors.health import HealthReporter
from btcpulse.config import Settings
from btcpulse.events import DeadLetter, Trade, encode
from btcpulse.store.db import Store
from btcpulse.timeutil import to_epoch_us

log = structlog.get_logger("coinbase")

VENUE = "coinbase"
HEALTH_EVERY_S = 5.0


def parse_frame(raw: str | bytes) -> tuple[list[Trade], list[DeadLetter]]:
    """One WebSocket frame → trades (``market_trades`` only; other channels give nothing)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        msg: Any = json.loads(text)
        if not isinstance(msg, dict):
            raise ValueError("frame is not a JSON object")
        if msg.get("type") == "error":
            raise ValueError(f"venue error: {msg.get('message')}")
        if msg.get("channel") != "market_trades":
            return [], []
        trades = []
        for ev in msg["events"]:
            for tr in ev.get("trades", []):
                side = str(tr.get("side", "")).lower()
                trades.append(
                    Trade(
                        exchange=VENUE,
                        symbol=tr["product_id"],
                        trade_id=str(tr["trade_id"]),
                        price=tr["price"],
                        size=tr["size"],
                        side=side if side in ("buy", "sell") else "unknown",
                        time=tr["time"],
                    )
                )
        return trades, []
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        return [], [
            DeadLetter(
                stage="collect",
                source=VENUE,
                reason=f"malformed frame: {type(exc).__name__}: {exc}"[:2000],
                payload=text[:20000],
            )
        ]


def subscriptions(products: list[str]) -> list[dict[str, Any]]:
    return [
        {"type": "subscribe", "product_ids": products, "channel": "market_trades"},
        {"type": "subscribe", "product_ids": products, "channel": "heartbeats"},
    ]


class CoinbaseCollector:
    def __init__(self, settings: Settings, producer: Producer, store: Store) -> None:
        self.s = settings
        self.producer = producer
        self.health = HealthReporter(store, VENUE, "prices")
        self.backoff = Backoff(base_s=1.0, cap_s=60.0)

    def _publish(self, trades: list[Trade], letters: list[DeadLetter]) -> None:
        for tr in trades:
            self.producer.produce(
                self.s.topic_prices,
                encode(tr),
                key=f"{tr.exchange}:{tr.symbol}".encode(),
                timestamp_ms=to_epoch_us(tr.time) // 1000,
            )
        for dl in letters:
            self.producer.produce(self.s.topic_deadletters, encode(dl), key=dl.error_id.encode())
        if trades or letters:
            self.producer.flush()

    async def _session(self) -> None:
        async with websockets.connect(
            self.s.coinbase_ws_url,
            open_timeout=self.s.http_timeout_s,
            ping_interval=20,
            ping_timeout=20,
            max_size=2**22,
            user_agent_header=self.s.user_agent,
        ) as ws:
            for sub in subscriptions(self.s.coinbase_products):
                await ws.send(json.dumps(sub))
            self.health.up(detail="connected")
            self.backoff.reset()
            pending, last_report = 0, time.monotonic()
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=30.0)
                except TimeoutError as exc:
                    raise TimeoutError("no message (not even a heartbeat) for 30 s") from exc
                trades, letters = parse_frame(raw)
                self._publish(trades, letters)
                pending += len(trades)
                if time.monotonic() - last_report >= HEALTH_EVERY_S:
                    self.health.up(items=pending, detail="connected")
                    pending, last_report = 0, time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                session = asyncio.create_task(self._session())
                await asyncio.wait({session, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    session.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await session
                    return
                exc = session.exception()
                delay = self.backoff.next_delay()
                reason = f"{type(exc).__name__}: {exc}"[:500] if exc else "session ended"
                log.warning("coinbase.disconnected", reason=reason, retry_s=round(delay, 2))
                self.health.down(reason, detail=f"reconnect in {delay:.0f}s")
                await asyncio.wait({stopping}, timeout=delay)
        finally:
            stopping.cancel()

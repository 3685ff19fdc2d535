"""Coinbase Advanced Trade WebSocket (``market_trades``, optional ``ticker``) → ``Trade`` events.

Subscribes to ``market_trades`` and ``heartbeats`` for the configured products (the heartbeats
keep a quiet connection alive and carry the connection's ``sequence_num``, whose jumps reveal a
lost frame). ``ticker`` frames are understood (they carry no trade and give nothing). Backfill:
the public ``GET /api/v3/brokerage/market/products/{id}/ticker?limit=&start=&end=`` (newest
first), paged backwards in time.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx

from btcpulse.bus.base import Producer
from btcpulse.collectors.backoff import Backoff
from btcpulse.config import Settings
from btcpulse.events import DeadLetter, Trade
from btcpulse.store.db import Store

from .stream import StreamCollector, Venue
from .wire import (
    DIGITS,
    JSON_INT,
    JSON_STR,
    BackfillError,
    Frame,
    as_text,
    dead_letter,
    fast_loads,
    from_iso,
    get_json,
    layout,
    trade,
)

_tuple_new = tuple.__new__  # a ``Frame`` without its Python-level ``__new__``
VENUE = "coinbase"
PAGE = 1000
_ERRORS = (ValueError, KeyError, TypeError, AttributeError)
_SIDES = {"BUY": "buy", "SELL": "sell"}
_compact, _spaced = layout(
    '{"channel":"market_trades","client_id":<str>,"timestamp":<str>,"sequence_num":<seq>,'
    '"events":[{"type":"update","trades":[{"trade_id":"<id>","product_id":"<product>",'
    '"price":"<decimal>","size":"<decimal>","side":"<side>","time":"<time>"}]}]}',
    str=JSON_STR,
    seq=f"({JSON_INT})",
    id="([0-9A-Za-z-]{1,128})",
    product="([A-Z0-9]{1,16}-[A-Z0-9]{1,16})",
    decimal=f"({DIGITS})",
    side="(BUY|SELL)",
    time="([0-9T:.Z+-]{1,40})",
)
"""A ``market_trades`` update of one trade, as Coinbase writes it."""


def _trade(tr: dict[str, Any]) -> Trade:
    return trade(
        VENUE,
        tr["product_id"],
        tr["trade_id"],
        tr["price"],
        tr["size"],
        str(tr.get("side", "")).lower(),
        from_iso(tr["time"]),
    )


class Coinbase(Venue):
    name: ClassVar[str] = VENUE

    def __init__(self, channels: tuple[str, ...] = ("market_trades", "heartbeats")) -> None:
        self.channels = channels

    def parse(self, raw: str | bytes) -> Frame:
        text = raw if raw.__class__ is str else as_text(raw)
        one = _compact(text) or _spaced(text)
        if one is not None:  # the usual frame: one match, no JSON parser (see ``layout``)
            seq, trade_id, product, price, size, side, when = one.groups()
            try:
                tr = trade(VENUE, product, trade_id, price, size, _SIDES[side], from_iso(when))
            except _ERRORS as exc:
                return Frame([], [dead_letter(VENUE, text, exc)])
            return _tuple_new(Frame, ([tr], [], int(seq), None))
        try:
            msg: Any = fast_loads(text)
            if not isinstance(msg, dict):
                raise ValueError("frame is not a JSON object")
            if msg.get("type") == "error":
                raise ValueError(f"venue error: {msg.get('message')}")
            seq = msg.get("sequence_num")
            seq = int(seq) if seq is not None else None
            if msg.get("channel") != "market_trades":
                return Frame([], [], seq)
            trades = [_trade(tr) for ev in msg["events"] for tr in ev.get("trades", [])]
            return _tuple_new(Frame, (trades, [], seq, None))
        except _ERRORS as exc:
            return Frame([], [dead_letter(VENUE, text, exc)])

    def subscribe_messages(self, symbols: list[str]) -> list[str]:
        return [json.dumps(m) for m in subscriptions(symbols, self.channels)]

    async def backfill(
        self, http: httpx.AsyncClient, symbol: str, after: Trade, before: Trade | None
    ) -> list[Trade]:
        start = int(after.time.timestamp())
        end = int(before.time.timestamp()) + 1 if before is not None else None
        out: list[Trade] = []
        while True:
            params: dict[str, Any] = {"limit": PAGE, "start": str(start)}
            if end is not None:
                params["end"] = str(end)
            path = f"/api/v3/brokerage/market/products/{symbol}/ticker"
            body = await get_json(http, path, params)
            if not isinstance(body, dict) or not isinstance(body.get("trades"), list):
                raise BackfillError(f"unexpected answer: {str(body)[:200]}")
            page = [_trade(tr) for tr in body["trades"]]
            out += page
            if len(page) < PAGE or len(out) >= 50_000:
                return out
            oldest = min(int(t.time.timestamp()) for t in page)
            if end is not None and oldest >= end:
                return out
            end = oldest + 1  # the next (older) page; overlaps are dropped by trade id


def parse_frame(raw: str | bytes) -> tuple[list[Trade], list[DeadLetter]]:
    """One WebSocket frame → trades (``market_trades`` only; other channels give nothing)."""
    frame = Coinbase().parse(raw)
    return frame.trades, frame.letters


def subscriptions(
    products: list[str], channels: tuple[str, ...] = ("market_trades", "heartbeats")
) -> list[dict[str, Any]]:
    return [{"type": "subscribe", "product_ids": products, "channel": ch} for ch in channels]


class CoinbaseCollector(StreamCollector):
    """The Coinbase collector built from the settings (``coinbase_*``)."""

    def __init__(
        self,
        settings: Settings,
        producer: Producer,
        store: Store,
        *,
        ws_url: str | None = None,
        rest_url: str | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(
            Coinbase(),
            producer,
            store,
            ws_url=ws_url or settings.coinbase_ws_url,
            rest_url=rest_url or settings.coinbase_rest_url,
            symbols=list(settings.coinbase_products),
            topic_prices=settings.topic_prices,
            topic_deadletters=settings.topic_deadletters,
            user_agent=settings.user_agent,
            open_timeout_s=settings.http_timeout_s,
            backoff=backoff,
        )

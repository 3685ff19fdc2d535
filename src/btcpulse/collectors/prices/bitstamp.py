"""Bitstamp WebSocket v2 (``live_trades_<pair>``) → ``Trade`` events.

Subscribe: ``{"event": "bts:subscribe", "data": {"channel": "live_trades_btcusd"}}``; Bitstamp
answers ``bts:subscription_succeeded``. Bitstamp sends no heartbeat of its own: the collector
sends ``{"event": "bts:heartbeat"}`` every 10 s and gets one back. ``bts:request_reconnect``
makes the collector reconnect. Trade ids increase but are not consecutive, so a gap is only
known after a reconnect; it is filled (and a frame lost inside the session recovered) by time
from ``GET /api/v2/transactions/<pair>/?time=
minute|hour|day`` (the smallest window that reaches the last trade seen; newest first; times in
whole seconds: a backfilled trade carries its second, a live one its microsecond). Outages
longer than a day cannot be filled from trades (reported as a partly filled gap).
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import cache
from typing import Any, ClassVar

import httpx

from btcpulse.events import DeadLetter, Trade
from btcpulse.timeutil import utcnow

from .stream import Venue
from .wire import (
    DIGITS,
    JSON_INT,
    JSON_NUM,
    BackfillError,
    Frame,
    as_text,
    dead_letter,
    fast_loads,
    from_seconds_text,
    from_us,
    get_json,
    layout,
    trade,
)

_tuple_new = tuple.__new__  # a ``Frame`` without its Python-level ``__new__``
VENUE = "bitstamp"
QUOTES = ("usdt", "usdc", "pax", "usd", "eur", "gbp", "btc", "eth")
_SIDES = {"0": "buy", "1": "sell"}
_compact, _spaced = layout(
    '{"data":{"id":<id>,"timestamp":"<digits>","amount":<num>,"amount_str":"<decimal>",'
    '"price":<num>,"price_str":"<decimal>","type":<type>,"microtimestamp":"<us>",'
    '"buy_order_id":<int>,"sell_order_id":<int>},"channel":"<channel>","event":"trade"}',
    id=f"({JSON_INT})",
    int=JSON_INT,
    num=JSON_NUM,
    digits="[0-9]{1,20}+",
    decimal=f"({DIGITS})",
    type="([01])",
    us="([0-9]{1,20}+)",
    channel="(live_trades_[a-z0-9]{1,32}+)",
)
"""A ``live_trades`` trade as Bitstamp writes it."""
_WINDOWS = (("minute", timedelta(seconds=50)), ("hour", timedelta(minutes=55)))


@cache
def normalise(pair: str) -> str:
    """``btcusd`` → ``BTC-USD``."""
    p = pair.lower()
    for q in QUOTES:
        if p.endswith(q) and len(p) > len(q):
            return f"{p[: -len(q)]}-{q}".upper()
    raise ValueError(f"unknown Bitstamp pair {pair!r}")


_CHANNELS: dict[str, str] = {}
"""``live_trades_btcusd`` → ``BTC-USD``, for the channels seen."""


def _symbol(channel: Any) -> str:
    channel = str(channel)
    if not channel.startswith("live_trades_"):
        raise ValueError(f"trade on channel {channel!r}")
    if len(_CHANNELS) >= 1024:
        _CHANNELS.clear()
    sym = _CHANNELS[channel] = normalise(channel.removeprefix("live_trades_"))
    return sym


def native(symbol: str) -> str:
    return symbol.replace("-", "").lower()


class Bitstamp(Venue):
    name: ClassVar[str] = VENUE
    heartbeat_s: ClassVar[float | None] = 10.0
    reconcile: ClassVar[bool] = True

    def parse(self, raw: str | bytes) -> Frame:
        text = raw if raw.__class__ is str else as_text(raw)
        one = _compact(text) or _spaced(text)
        if one is not None:  # the usual frame: one match, no JSON parser (see ``layout``)
            trade_id, size, price, side, us, channel = one.groups()
            try:
                tr = trade(
                    VENUE,
                    _CHANNELS.get(channel) or _symbol(channel),
                    trade_id,
                    price,
                    size,
                    _SIDES[side],
                    from_us(us),
                )
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return Frame([], [dead_letter(VENUE, text, exc)])
            return _tuple_new(Frame, ([tr], [], None, None))
        try:
            msg: Any = fast_loads(text)
            if msg.__class__ is not dict:  # orjson gives plain dicts
                raise ValueError("frame is not a JSON object")
            event = msg.get("event")
            if event != "trade":
                if event == "bts:error":
                    raise ValueError(f"venue error: {msg.get('data')}")
                if event == "bts:request_reconnect":
                    return Frame([], [], control="reconnect")
                return Frame([], [])  # subscription answers, heartbeats, order book
            channel = msg["channel"]
            symbol = (_CHANNELS.get(channel) if channel.__class__ is str else None) or _symbol(
                channel
            )
            d = msg["data"]
            tr = trade(
                VENUE,
                symbol,
                d["id"],
                d.get("price_str", d["price"]),
                d.get("amount_str", d["amount"]),
                _SIDES.get(str(d.get("type")), ""),
                from_us(d["microtimestamp"]),
            )
            return _tuple_new(Frame, ([tr], [], None, None))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return Frame([], [dead_letter(VENUE, text, exc)])

    def subscribe_messages(self, symbols: list[str]) -> list[str]:
        return [
            json.dumps({"event": "bts:subscribe", "data": {"channel": f"live_trades_{native(s)}"}})
            for s in symbols
        ]

    def heartbeat(self, n: int) -> str | None:
        return json.dumps({"event": "bts:heartbeat"})

    async def backfill(
        self, http: httpx.AsyncClient, symbol: str, after: Trade, before: Trade | None
    ) -> list[Trade]:
        age = utcnow() - after.time
        window = next((name for name, span in _WINDOWS if age < span), "day")
        rows = await get_json(http, f"/api/v2/transactions/{native(symbol)}/", {"time": window})
        if not isinstance(rows, list):
            raise BackfillError(f"unexpected answer: {str(rows)[:200]}")
        out = [
            trade(
                VENUE,
                symbol,
                r["tid"],
                r["price"],
                r["amount"],
                _SIDES.get(str(r.get("type")), ""),
                from_seconds_text(r["date"]),
            )
            for r in rows
        ]
        # ``after`` has microseconds, a REST trade only its second: compare ids, not times.
        newer = [t for t in out if int(t.trade_id) > int(after.trade_id)]
        if before is not None:
            newer = [t for t in newer if int(t.trade_id) < int(before.trade_id)]
        return newer


def parse_frame(raw: str | bytes) -> tuple[list[Trade], list[DeadLetter]]:
    frame = Bitstamp().parse(raw)
    return frame.trades, frame.letters

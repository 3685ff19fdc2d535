"""Binance spot WebSocket (``<symbol>@aggTrade``, also ``@trade``) → ``Trade`` events.

Connects to a raw (``/ws``) or combined (``/stream``) endpoint and subscribes with
``{"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1}``. Binance pings at the
WebSocket level (answered by the client library) and has no application heartbeat, so the
collector sends ``LIST_SUBSCRIPTIONS`` every 10 s: its answer proves the stream is alive.
Aggregate-trade ids (``a``) are consecutive per symbol, so a jump is a gap. Backfill:
``GET /api/v3/aggTrades?symbol=&fromId=&limit=1000``.

Symbols: ``BTCUSDT`` → ``BTC-USDT`` (the quote stays what it is: USDT is not USD).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, ClassVar

import httpx

from btcpulse.events import DeadLetter, Trade

from .stream import Venue
from .wire import (
    MAX_BACKFILL,
    BackfillError,
    Frame,
    as_text,
    dead_letter,
    fast_loads,
    from_ms,
    get_json,
    trade,
)

_tuple_new = tuple.__new__  # a ``Frame`` without its Python-level ``__new__``
VENUE = "binance"
PAGE = 1000
QUOTES = (
    "FDUSD", "USDT", "USDC", "TUSD", "BUSD", "USD", "EUR", "GBP", "TRY", "BRL", "JPY", "AUD",
    "BTC", "ETH", "BNB", "DAI",
)  # fmt: skip


@cache
def normalise(native: str) -> str:
    """``BTCUSDT`` → ``BTC-USDT`` (longest known quote suffix)."""
    s = native.upper()
    for q in QUOTES:
        if s.endswith(q) and len(s) > len(q):
            return f"{s[: -len(q)]}-{q}"
    raise ValueError(f"unknown Binance symbol {native!r}")


_SYMBOLS: dict[str, str] = {}


def _symbol(pair: str) -> str:
    if len(_SYMBOLS) >= 1024:
        _SYMBOLS.clear()
    sym = _SYMBOLS[pair] = normalise(pair)
    return sym


def native(symbol: str) -> str:
    return symbol.replace("-", "").upper()


def _agg(d: dict[str, Any], symbol: str) -> Trade:
    # m = the buyer is the maker, i.e. the taker (aggressor) sold.
    side = "sell" if d["m"] is True else "buy" if d["m"] is False else ""
    return trade(VENUE, symbol, d["a"], d["p"], d["q"], side, from_ms(d["T"]))


class Binance(Venue):
    name: ClassVar[str] = VENUE
    dense_ids: ClassVar[bool] = True
    heartbeat_s: ClassVar[float | None] = 10.0

    def __init__(self, stream: str = "aggTrade") -> None:
        self.stream = stream

    def parse(self, raw: str | bytes) -> Frame:
        text = raw if raw.__class__ is str else as_text(raw)
        try:
            msg: Any = fast_loads(text)
            if msg.__class__ is not dict:
                raise ValueError("frame is not a JSON object")
            if "code" in msg and "msg" in msg:
                raise ValueError(f"venue error {msg['code']}: {msg['msg']}")
            data = msg.get("data", msg) if "stream" in msg else msg
            if data.__class__ is not dict:
                raise ValueError("stream data is not a JSON object")
            kind = data.get("e")
            if kind == "aggTrade":  # m = the buyer is the maker: the taker (aggressor) sold
                m = data["m"]
                side = "sell" if m is True else "buy" if m is False else ""
                tid = data["a"]
            elif kind == "trade":
                side = "sell" if data["m"] is True else "buy"
                tid = data["t"]
            else:
                return Frame([], [])  # subscription answers, depth, bookTicker, kline...
            s = data["s"]  # a plain dict: cheaper than ``normalise``'s cache
            tr = trade(
                VENUE,
                _SYMBOLS.get(s) or _symbol(s),
                tid,
                data["p"],
                data["q"],
                side,
                from_ms(data["T"]),
            )
            return _tuple_new(Frame, ([tr], [], None, None))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return Frame([], [dead_letter(VENUE, text, exc)])

    def subscribe_messages(self, symbols: list[str]) -> list[str]:
        params = [f"{native(s).lower()}@{self.stream}" for s in symbols]
        return [json.dumps({"method": "SUBSCRIBE", "params": params, "id": 1})]

    def heartbeat(self, n: int) -> str | None:
        return json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": n + 1})

    async def backfill(
        self, http: httpx.AsyncClient, symbol: str, after: Trade, before: Trade | None
    ) -> list[Trade]:
        next_id = int(after.trade_id) + 1
        stop_id = int(before.trade_id) if before is not None else None
        out: list[Trade] = []
        while stop_id is None or next_id < stop_id:
            rows = await get_json(
                http,
                "/api/v3/aggTrades",
                {"symbol": native(symbol), "fromId": next_id, "limit": PAGE},
            )
            if not isinstance(rows, list):
                raise BackfillError(f"unexpected answer: {str(rows)[:200]}")
            out += [_agg(r, symbol) for r in rows]
            if len(rows) < PAGE or len(out) >= MAX_BACKFILL:
                break
            next_id = int(rows[-1]["a"]) + 1
        return out


def parse_frame(raw: str | bytes) -> tuple[list[Trade], list[DeadLetter]]:
    frame = Binance().parse(raw)
    return frame.trades, frame.letters

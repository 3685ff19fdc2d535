"""Kraken spot WebSocket v2 (``trade`` channel) → ``Trade`` events; v1 trade frames too.

Subscribe: ``{"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD"],
"snapshot": true}}``; Kraken answers ``{"method": "subscribe", "success": true, ...}``, then a
snapshot of recent trades (duplicates after a reconnect are dropped by id) and updates. The
server sends ``{"channel": "heartbeat"}`` every second. v2 ``trade_id`` is consecutive per pair,
so a jump is a gap. Prices and quantities are JSON numbers: they are kept as their source text
(read from the frame's text beside a fast JSON parse).
Backfill: ``GET /0/public/Trades?pair=XBTUSD&since=<epoch s>&count=1000``, paged with ``last``.

v1 (array frames, ``XBT``) is parsed too, for the recordings: v1 carries no trade id, so the id
is ``v1:<time>:<price>:<volume>:<side>``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any, ClassVar

import httpx

from btcpulse.events import DeadLetter, Trade

from .stream import Venue
from .wire import (
    JSON_INT,
    JSON_NUM,
    MAX_BACKFILL,
    BackfillError,
    Frame,
    as_text,
    dead_letter,
    fast_loads,
    from_iso,
    from_seconds_text,
    get_json,
    layout,
    loads,
    trade,
)

VENUE = "kraken"
PAGE = 1000
_SIDES = {"b": "buy", "s": "sell", "buy": "buy", "sell": "sell"}
_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError)
_NUMBERS = re.compile(r'"(price|qty)"\s*:\s*(-?[0-9][0-9.eE+-]*)')
"""Kraken v2 sends prices and sizes as JSON numbers; this keeps their text (``105944.20``)."""
_compact, _spaced = layout(
    '{"channel":"trade","type":"update","data":[{"symbol":"<symbol>","side":"<side>",'
    '"price":<num>,"qty":<num>,"ord_type":"<word>","trade_id":<id>,"timestamp":"<time>"}]}',
    symbol="([A-Z0-9]{1,16}+/[A-Z0-9]{1,16}+)",
    side="(buy|sell)",
    num=f"({JSON_NUM})",  # the number's exact text, e.g. 105944.20
    word="[a-z]{1,16}+",
    id=f"({JSON_INT})",
    time="([0-9T:.Z+-]{1,40}+)",
)
"""An update of one trade as Kraken writes it: its prices' text is read with the same match."""


@cache
def normalise(pair: str) -> str:
    """``BTC/USD`` (v2) or ``XBT/USD`` (v1) → ``BTC-USD``."""
    base, sep, quote = pair.partition("/")
    if not sep or not base or not quote:
        raise ValueError(f"not a Kraken pair: {pair!r}")
    fix = {"XBT": "BTC", "XDG": "DOGE"}
    return f"{fix.get(base, base)}-{fix.get(quote, quote)}"


_SYMBOLS: dict[str, str] = {}


def _symbol(pair: str) -> str:
    if len(_SYMBOLS) >= 1024:
        _SYMBOLS.clear()
    sym = _SYMBOLS[pair] = normalise(pair)
    return sym


def ws_symbol(symbol: str) -> str:
    return symbol.replace("-", "/")


def rest_pair(symbol: str) -> str:
    base, _, quote = symbol.partition("-")
    return ("XBT" if base == "BTC" else base) + quote


_tuple_new = tuple.__new__  # builds a ``Frame`` without its Python-level ``__new__``


class Kraken(Venue):
    name: ClassVar[str] = VENUE
    dense_ids: ClassVar[bool] = True

    def parse(self, raw: str | bytes) -> Frame:
        text = raw if raw.__class__ is str else as_text(raw)
        one = _compact(text) or _spaced(text)
        if one is not None:  # the usual frame: one match, no JSON parser (see ``layout``)
            symbol, side, price, size, trade_id, when = one.groups()
            try:
                tr = trade(
                    VENUE,
                    _SYMBOLS.get(symbol) or _symbol(symbol),
                    trade_id,
                    price,
                    size,
                    side,
                    from_iso(when),
                )
            except _ERRORS as exc:
                return Frame([], [dead_letter(VENUE, text, exc)])
            return _tuple_new(Frame, ([tr], [], None, None))
        try:
            msg: Any = fast_loads(text)
            if isinstance(msg, list):
                return Frame(_v1(msg), [])
            if not isinstance(msg, dict):
                raise ValueError("frame is not a JSON object")
            if msg.get("success") is False or msg.get("event") == "error":
                raise ValueError(f"venue error: {msg.get('error') or msg.get('errorMessage')}")
            if msg.get("channel") != "trade":
                return Frame([], [])  # heartbeat, status, subscribe answers, ticker, book
            data = msg["data"]
            nums = _NUMBERS.findall(text)  # the exact text of the JSON numbers, in order
            if len(nums) == 2 and len(data) == 1:  # one trade (the usual frame): no lists
                (k1, v1), (k2, v2) = nums
                if (k1, k2) in (("price", "qty"), ("qty", "price")):
                    d = data[0]
                    tr = trade(
                        VENUE,
                        normalise(d["symbol"]),
                        d["trade_id"],
                        v1 if k1 == "price" else v2,
                        v2 if k1 == "price" else v1,
                        _SIDES.get(d.get("side", ""), ""),
                        from_iso(d["timestamp"]),
                    )
                    return _tuple_new(Frame, ([tr], [], None, None))
            prices = [v for k, v in nums if k == "price"]
            sizes = [v for k, v in nums if k == "qty"]
            if len(prices) != len(data) or len(sizes) != len(data):  # unusual: the slow way
                data = loads(text)["data"]
                prices = [d["price"] for d in data]
                sizes = [d["qty"] for d in data]
            trades = [
                trade(
                    VENUE,
                    normalise(d["symbol"]),
                    d["trade_id"],
                    price,
                    size,
                    _SIDES.get(d.get("side", ""), ""),
                    from_iso(d["timestamp"]),
                )
                for d, price, size in zip(data, prices, sizes, strict=True)
            ]
            return Frame(trades, [])
        except _ERRORS as exc:
            return Frame([], [dead_letter(VENUE, text, exc)])

    def subscribe_messages(self, symbols: list[str]) -> list[str]:
        params = {"channel": "trade", "symbol": [ws_symbol(s) for s in symbols], "snapshot": True}
        return [json.dumps({"method": "subscribe", "params": params, "req_id": 1})]

    async def backfill(
        self, http: httpx.AsyncClient, symbol: str, after: Trade, before: Trade | None
    ) -> list[Trade]:
        since: str = str(int(after.time.timestamp()))
        out: list[Trade] = []
        while True:
            body = await get_json(
                http, "/0/public/Trades", {"pair": rest_pair(symbol), "since": since, "count": PAGE}
            )
            if not isinstance(body, dict) or body.get("error") or "result" not in body:
                raise BackfillError(f"unexpected answer: {str(body)[:200]}")
            result = body["result"]
            rows = next(v for k, v in result.items() if k != "last")
            page = [_rest(r, symbol) for r in rows]
            out += page
            done = before is not None and any(t.time >= before.time for t in page)
            if len(rows) < PAGE or done or len(out) >= MAX_BACKFILL:
                return out
            since = str(result["last"])


def _rest(r: list[Any], symbol: str) -> Trade:
    # [price, volume, time, b|s, l|m, misc, trade_id]
    return trade(VENUE, symbol, r[6], r[0], r[1], _SIDES.get(r[3], ""), from_seconds_text(r[2]))


def _v1(msg: list[Any]) -> list[Trade]:
    if len(msg) < 4 or msg[-2] != "trade":
        return []  # ticker, book...: no trades
    symbol = normalise(msg[-1])
    out = []
    for price, volume, when, side, *_ in msg[1]:
        tid = f"v1:{when}:{price}:{volume}:{side}"
        out.append(
            trade(VENUE, symbol, tid, price, volume, _SIDES.get(side, ""), from_seconds_text(when))
        )
    return out


def parse_frame(raw: str | bytes) -> tuple[list[Trade], list[DeadLetter]]:
    frame = Kraken().parse(raw)
    return frame.trades, frame.letters

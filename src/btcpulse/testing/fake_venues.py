"""The four venues' wire formats as the fake exchange speaks them (server side).

Shapes follow the venues' documentation and the recordings in ``tests/fixtures/market``:
Coinbase Advanced Trade, Binance spot, Kraken spot v2, Bitstamp v2 (WebSocket and REST).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from btcpulse.timeutil import to_epoch_us, utcnow


def _dumps(obj: Any) -> str:
    """A frame as the venues write it: compact JSON (as in the recordings under
    ``tests/fixtures/market/``), not Python's ``", "`` / ``": "`` spacing."""
    return json.dumps(obj, separators=(",", ":"))


@dataclass(frozen=True)
class TapeTrade:
    trade_id: int
    price: str
    size: str
    side: str  # "buy" | "sell" (the taker's side)
    time: datetime


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ms(t: datetime) -> int:
    return to_epoch_us(t) // 1000


def seconds_text(t: datetime) -> str:
    us = to_epoch_us(t)
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


class Protocol:
    ws_path: ClassVar[str] = "/"
    has_snapshot: ClassVar[bool] = False

    def on_connect(self, state: dict[str, Any]) -> list[str]:
        return []

    def answer(self, msg: Any, state: dict[str, Any], symbol: str) -> tuple[list[str], bool]:
        """Replies to a client message, and whether it was the trade subscription."""
        return [], False

    def heartbeat(self, state: dict[str, Any], symbol: str) -> str | None:
        return None

    def trades(
        self, batch: list[TapeTrade], state: dict[str, Any], symbol: str, snapshot: bool
    ) -> str:
        raise NotImplementedError

    def rest(
        self, path: str, q: dict[str, str], happened: list[TapeTrade], symbol: str, now: datetime
    ) -> Any | None:
        return None


class CoinbaseProto(Protocol):
    has_snapshot: ClassVar[bool] = True

    def _msg(self, state: dict[str, Any], channel: str, events: list[Any]) -> str:
        seq = state["seq"]
        state["seq"] = seq + 1
        return _dumps(
            {
                "channel": channel,
                "client_id": "",
                "timestamp": iso(utcnow()),
                "sequence_num": seq,
                "events": events,
            }
        )

    def answer(self, msg: Any, state: dict[str, Any], symbol: str) -> tuple[list[str], bool]:
        if not isinstance(msg, dict) or msg.get("type") != "subscribe":
            return [], False
        channel = msg.get("channel")
        state.setdefault("channels", set()).add(channel)
        subs = {ch: msg.get("product_ids", []) for ch in sorted(state["channels"])}
        reply = self._msg(state, "subscriptions", [{"subscriptions": subs}])
        return [reply], channel == "market_trades"

    def heartbeat(self, state: dict[str, Any], symbol: str) -> str | None:
        if "heartbeats" not in state.get("channels", ()):
            return None
        state["beats"] = n = state.get("beats", 0) + 1
        now = utcnow()
        return self._msg(
            state,
            "heartbeats",
            [{"current_time": str(now), "heartbeat_counter": n}],
        )

    @staticmethod
    def _trade(t: TapeTrade, symbol: str) -> dict[str, Any]:
        return {
            "trade_id": str(t.trade_id),
            "product_id": symbol,
            "price": t.price,
            "size": t.size,
            "side": t.side.upper(),
            "time": iso(t.time),
        }

    def trades(
        self, batch: list[TapeTrade], state: dict[str, Any], symbol: str, snapshot: bool
    ) -> str:
        rows = [self._trade(t, symbol) for t in reversed(batch)]  # newest first, as Coinbase
        kind = "snapshot" if snapshot else "update"
        return self._msg(state, "market_trades", [{"type": kind, "trades": rows}])

    def rest(
        self, path: str, q: dict[str, str], happened: list[TapeTrade], symbol: str, now: datetime
    ) -> Any | None:
        if path != f"/api/v3/brokerage/market/products/{symbol}/ticker":
            return None
        lo = int(q.get("start", "0"))
        hi = int(q.get("end", str(2**40)))
        rows = [t for t in happened if lo <= t.time.timestamp() <= hi]
        rows = rows[::-1][: int(q["limit"])]
        return {"trades": [self._trade(t, symbol) for t in rows], "best_bid": "", "best_ask": ""}


class BinanceProto(Protocol):
    ws_path: ClassVar[str] = "/ws"

    def answer(self, msg: Any, state: dict[str, Any], symbol: str) -> tuple[list[str], bool]:
        if not isinstance(msg, dict):
            return [], False
        if msg.get("method") == "SUBSCRIBE":
            state["streams"] = list(msg.get("params", []))
            return [_dumps({"result": None, "id": msg.get("id")})], True
        if msg.get("method") == "LIST_SUBSCRIPTIONS":
            return [_dumps({"result": state.get("streams", []), "id": msg.get("id")})], False
        return [], False

    @staticmethod
    def _agg(t: TapeTrade) -> dict[str, Any]:
        return {
            "a": t.trade_id,
            "p": t.price,
            "q": t.size,
            "f": t.trade_id * 2,
            "l": t.trade_id * 2,
            "T": ms(t.time),
            "m": t.side == "sell",
            "M": True,
        }

    def trades(
        self, batch: list[TapeTrade], state: dict[str, Any], symbol: str, snapshot: bool
    ) -> str:
        (t,) = batch
        native = symbol.replace("-", "")
        data = {"e": "aggTrade", "E": ms(t.time) + 1, "s": native, **self._agg(t)}
        if str(state.get("path", "")).startswith("/stream"):
            return _dumps({"stream": f"{native.lower()}@aggTrade", "data": data})
        return _dumps(data)

    def rest(
        self, path: str, q: dict[str, str], happened: list[TapeTrade], symbol: str, now: datetime
    ) -> Any | None:
        if path != "/api/v3/aggTrades":
            return None
        if q["symbol"] != symbol.replace("-", ""):
            raise ValueError("Invalid symbol.")
        limit = int(q.get("limit", "500"))
        if "fromId" in q:
            rows = [t for t in happened if t.trade_id >= int(q["fromId"])][:limit]
        else:
            rows = happened[-limit:]
        return [self._agg(t) for t in rows]


class KrakenProto(Protocol):
    ws_path: ClassVar[str] = "/v2"
    has_snapshot: ClassVar[bool] = True

    def on_connect(self, state: dict[str, Any]) -> list[str]:
        status = {"version": "2.0.0", "system": "online", "api_version": "v2", "connection_id": 1}
        return [_dumps({"channel": "status", "type": "update", "data": [status]})]

    def answer(self, msg: Any, state: dict[str, Any], symbol: str) -> tuple[list[str], bool]:
        if not isinstance(msg, dict):
            return [], False
        now = iso(utcnow())
        base = {"time_in": now, "time_out": now, "req_id": msg.get("req_id")}
        if msg.get("method") == "ping":
            return [_dumps({"method": "pong", **base})], False
        if msg.get("method") != "subscribe":
            return [], False
        params = msg.get("params", {})
        replies = [
            _dumps(
                {
                    "method": "subscribe",
                    "result": {
                        "channel": params.get("channel"),
                        "symbol": s,
                        "snapshot": params.get("snapshot", True),
                    },
                    "success": True,
                    **base,
                }
            )
            for s in params.get("symbol", [])
        ]
        return replies, params.get("channel") == "trade"

    def heartbeat(self, state: dict[str, Any], symbol: str) -> str | None:
        return _dumps({"channel": "heartbeat"})

    def trades(
        self, batch: list[TapeTrade], state: dict[str, Any], symbol: str, snapshot: bool
    ) -> str:
        pair = symbol.replace("-", "/")
        rows = ",".join(  # prices and quantities are JSON numbers on Kraken v2
            f'{{"symbol":"{pair}","side":"{t.side}","price":{t.price},"qty":{t.size},'
            f'"ord_type":"market","trade_id":{t.trade_id},"timestamp":"{iso(t.time)}"}}'
            for t in batch
        )
        kind = "snapshot" if snapshot else "update"
        return f'{{"channel":"trade","type":"{kind}","data":[{rows}]}}'

    def rest(
        self, path: str, q: dict[str, str], happened: list[TapeTrade], symbol: str, now: datetime
    ) -> Any | None:
        if path != "/0/public/Trades":
            return None
        since = Decimal(q.get("since", "0"))
        count = int(q.get("count", "1000"))
        if since > 10**12:  # a "last" cursor: nanoseconds, exclusive
            rows = [t for t in happened if to_epoch_us(t.time) * 1000 > since]
        else:
            rows = [t for t in happened if to_epoch_us(t.time) >= since * 10**6]
        rows = rows[:count]
        last = to_epoch_us(rows[-1].time) * 1000 if rows else int(since)
        data = [
            [
                f"{Decimal(t.price):.5f}",
                f"{Decimal(t.size):.8f}",
                float(seconds_text(t.time)),
                t.side[0],
                "m",
                "",
                t.trade_id,
            ]
            for t in rows
        ]
        return {"error": [], "result": {"XXBTZUSD": data, "last": str(last)}}


class BitstampProto(Protocol):
    def answer(self, msg: Any, state: dict[str, Any], symbol: str) -> tuple[list[str], bool]:
        if not isinstance(msg, dict):
            return [], False
        if msg.get("event") == "bts:heartbeat":
            reply = {"event": "bts:heartbeat", "channel": "", "data": {"status": "success"}}
            return [_dumps(reply)], False
        if msg.get("event") != "bts:subscribe":
            return [], False
        channel = str(msg.get("data", {}).get("channel", ""))
        reply = {"event": "bts:subscription_succeeded", "channel": channel, "data": {}}
        return [_dumps(reply)], channel.startswith("live_trades_")

    def trades(
        self, batch: list[TapeTrade], state: dict[str, Any], symbol: str, snapshot: bool
    ) -> str:
        (t,) = batch
        us = to_epoch_us(t.time)
        data = {
            "id": t.trade_id,
            "timestamp": str(us // 1_000_000),
            "amount": float(t.size),
            "amount_str": t.size,
            "price": float(t.price),
            "price_str": t.price,
            "type": 0 if t.side == "buy" else 1,
            "microtimestamp": str(us),
            "buy_order_id": t.trade_id * 10,
            "sell_order_id": t.trade_id * 10 + 1,
        }
        pair = symbol.replace("-", "").lower()
        return _dumps({"data": data, "channel": f"live_trades_{pair}", "event": "trade"})

    def rest(
        self, path: str, q: dict[str, str], happened: list[TapeTrade], symbol: str, now: datetime
    ) -> Any | None:
        if path != f"/api/v2/transactions/{symbol.replace('-', '').lower()}/":
            return None
        span = {"minute": 60, "hour": 3600, "day": 86400}[q.get("time", "hour")]
        rows = [t for t in happened if t.time > now - timedelta(seconds=span)][::-1]
        return [
            {
                "date": str(to_epoch_us(t.time) // 1_000_000),
                "tid": str(t.trade_id),
                "amount": t.size,
                "type": "0" if t.side == "buy" else "1",
                "price": t.price,
            }
            for t in rows
        ]


PROTOCOLS: dict[str, Protocol] = {
    "coinbase": CoinbaseProto(),
    "binance": BinanceProto(),
    "kraken": KrakenProto(),
    "bitstamp": BitstampProto(),
}

"""Wire-level helpers shared by the venue parsers: decimal text, exchange timestamps, fast
``Trade`` construction, dead letters, JSON that keeps numbers as their text, REST GETs."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

import httpx
import orjson
from pydantic import BaseModel

from btcpulse.events import DeadLetter, Trade
from btcpulse.timeutil import to_utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECIMAL = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
MAX_BACKFILL = 50_000
"""Most trades fetched for one gap; a longer outage is reported as partly filled."""
_SIDE: dict[str, Literal["buy", "sell"]] = {"buy": "buy", "sell": "sell"}


class Frame(NamedTuple):
    trades: list[Trade]
    letters: list[DeadLetter]
    seq: int | None = None
    """The venue's per-connection message sequence number, when it has one."""
    control: str | None = None
    """``"reconnect"`` when the venue asks the client to reconnect."""


class BackfillError(Exception):
    """A REST backfill request failed or answered something unusable."""


_match_decimal = _DECIMAL.fullmatch


def _is_decimal(text: str) -> bool:
    """Decimal text whose value is a finite float64 (``1e400`` is not: the engine would get inf)."""
    return _match_decimal(text) is not None and math.isfinite(float(text))


def decimal_str(value: Any) -> str:
    """A price or size as the venue's decimal text; refuses negatives, NaN, junk, and values
    beyond float64."""
    if value.__class__ is str:
        # Fast path for what venues send (ASCII digits, at most one dot, fewer than 300
        # characters, so finite): a subset of what ``_is_decimal`` accepts.
        if (
            len(value) < 300 and value.isascii() and value.replace(".", "", 1).isdigit()
        ) or _is_decimal(value):
            return str(value)
    elif not isinstance(value, bool) and isinstance(value, int | float):
        text = str(value)
        if _is_decimal(text):
            return text
    raise ValueError(f"not a non-negative decimal: {value!r}")


_SECONDS: dict[int, tuple[int, int, int, int, int, int]] = {}
"""UTC calendar fields of recent epoch seconds (a live stream has many trades per second)."""


def _fields(sec: int) -> tuple[int, int, int, int, int, int]:
    try:
        t = EPOCH + timedelta(seconds=sec)
    except OverflowError as exc:
        raise ValueError(f"timestamp out of range: {sec} s since the epoch") from exc
    if len(_SECONDS) >= 4096:
        _SECONDS.clear()
    f = _SECONDS[sec] = (t.year, t.month, t.day, t.hour, t.minute, t.second)
    return f


def from_epoch_us(us: int) -> datetime:
    """Integer microseconds since the epoch → aware UTC datetime, exactly (integer arithmetic;
    the datetime is built from its fields, cheaper than ``EPOCH + timedelta``)."""
    sec, micro = divmod(us, 1_000_000)
    f = _SECONDS.get(sec) or _fields(sec)
    return datetime(f[0], f[1], f[2], f[3], f[4], f[5], micro, UTC)


def from_ms(ms: int | str) -> datetime:
    return from_epoch_us((ms if ms.__class__ is int else int(ms)) * 1000)


def from_us(us: int | str) -> datetime:
    return from_epoch_us(us if us.__class__ is int else int(us))


def from_seconds_text(text: str | float) -> datetime:
    """``"1618678142.557535"`` (epoch seconds with a fraction) without float rounding."""
    whole, _, frac = str(text).partition(".")
    return from_epoch_us(int(whole) * 1_000_000 + int((frac + "000000")[:6]))


def from_iso(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {text!r}")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"timestamp out of range in UTC: {text!r}") from exc


_new = object.__new__
_set_dict = object.__setattr__
_slots = BaseModel.__dict__
_set_fields = _slots["__pydantic_fields_set__"].__set__  # the slot descriptors' setters:
_set_extra = _slots["__pydantic_extra__"].__set__  # cheaper than object.__setattr__
_set_private = _slots["__pydantic_private__"].__set__
_FIELDS = frozenset(("exchange", "symbol", "trade_id", "price", "size", "side", "time"))


def trade(
    exchange: str,
    symbol: str,
    trade_id: Any,
    price: Any,
    size: Any,
    side: str,
    when: datetime,
) -> Trade:
    """A :class:`Trade` checked field by field (as strictly as the model's validators), built
    without pydantic's validation machinery: parsing is the collectors' hot path. This is what
    ``Trade.model_construct`` does, minus its generic work (a test compares the result with a
    validated ``Trade`` on every recorded frame)."""
    tid = trade_id if trade_id.__class__ is str else str(trade_id)
    if not tid or len(tid) > 128 or not symbol or len(symbol) > 32:
        raise ValueError(f"bad trade id or symbol: {trade_id!r} {symbol!r}")
    if when.tzinfo is not UTC:
        when = to_utc(when)
    m = _new(Trade)
    _set_dict(
        m,
        "__dict__",
        {
            "schema_version": 1,
            "type": "trade",
            "exchange": exchange,
            "symbol": symbol,
            "trade_id": tid,
            "price": decimal_str(price),
            "size": decimal_str(size),
            "side": _SIDE.get(side, "unknown"),
            "time": when,
        },
    )
    _set_fields(m, set(_FIELDS))  # its own set, as pydantic gives
    _set_extra(m, None)
    _set_private(m, None)
    return m


def dead_letter(venue: str, text: str, exc: BaseException, stage: str = "collect") -> DeadLetter:
    return DeadLetter(
        stage=stage,
        source=venue,
        reason=f"malformed frame: {type(exc).__name__}: {exc}"[:2000],
        payload=text[:20000],
    )


def as_text(raw: str | bytes) -> str:
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw


def loads(text: str) -> Any:
    """JSON with numbers kept as their source text (``105944.20`` stays ``"105944.20"``)."""
    return json.loads(text, parse_float=str)


fast_loads = orjson.loads
"""Plain JSON (orjson: 3-4x faster than ``json``), for venues whose prices are strings."""


async def get_json(http: httpx.AsyncClient, path: str, params: dict[str, Any]) -> Any:
    try:
        r = await http.get(path, params=params)
        r.raise_for_status()
        return loads(r.text)
    except (httpx.HTTPError, ValueError) as exc:
        raise BackfillError(f"{path}: {type(exc).__name__}: {exc}") from exc


def between(trades: Iterable[Trade], after: Trade, before: Trade | None) -> list[Trade]:
    """Trades with an id strictly between ``after``'s and ``before``'s (ids increase with time
    on every venue; REST times may be coarser than live ones), sorted by id."""
    lo = num(after.trade_id)
    hi = num(before.trade_id) if before is not None else None
    return sorted(
        (t for t in trades if num(t.trade_id) > lo and (hi is None or num(t.trade_id) < hi)),
        key=lambda t: num(t.trade_id),
    )


def num(trade_id: str) -> int:
    """Numeric trade id (every supported venue has integer ids); non-numeric sorts first."""
    return int(trade_id) if trade_id.isdigit() else -1

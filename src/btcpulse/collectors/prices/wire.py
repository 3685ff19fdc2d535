"""Wire-level helpers shared by the venue parsers: decimal text, exchange timestamps, fast
``Trade`` construction, dead letters, JSON that keeps numbers as their text, REST GETs."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
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


_BASE: dict[int, datetime] = {}
"""Aware UTC datetimes of recent epoch seconds (a live stream has many trades per second)."""
_MS = tuple(timedelta(milliseconds=i) for i in range(1000))
_US = tuple(timedelta(microseconds=i) for i in range(1000))
"""Sub-second offsets, built once: adding one to a cached second is exact (integer fields) and
several times cheaper than building a datetime from its fields."""


def _second(sec: int) -> datetime:
    try:
        t = EPOCH + timedelta(seconds=sec)
    except OverflowError as exc:
        raise ValueError(f"timestamp out of range: {sec} s since the epoch") from exc
    if len(_BASE) >= 4096:
        _BASE.clear()
    _BASE[sec] = t
    return t


def from_epoch_us(us: int) -> datetime:
    """Integer microseconds since the epoch → aware UTC datetime, exactly (integer arithmetic:
    the cached second plus its milli- and microseconds)."""
    ms, micro = divmod(us, 1000)
    sec, milli = divmod(ms, 1000)
    t = (_BASE.get(sec) or _second(sec)) + _MS[milli]
    return t + _US[micro] if micro else t


def from_ms(ms: int | str) -> datetime:
    sec, milli = divmod(ms if ms.__class__ is int else int(ms), 1000)
    return (_BASE.get(sec) or _second(sec)) + _MS[milli]


def from_us(us: int | str) -> datetime:
    ms, micro = divmod(us if us.__class__ is int else int(us), 1000)
    sec, milli = divmod(ms, 1000)
    t = (_BASE.get(sec) or _second(sec)) + _MS[milli]
    return t + _US[micro] if micro else t  # venues' microseconds are often whole ms


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
_slots = BaseModel.__dict__
_set_dict = _slots["__dict__"].__set__  # the slot descriptors' setters:
_set_fields = _slots["__pydantic_fields_set__"].__set__  # cheaper than object.__setattr__
_set_extra = _slots["__pydantic_extra__"].__set__
_set_private = _slots["__pydantic_private__"].__set__
_FIELDS = frozenset(("exchange", "symbol", "trade_id", "price", "size", "side", "time"))
_FIELDS_SET = set(_FIELDS)


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
    if not tid or len(tid) > 128 or symbol.__class__ is not str or not symbol or len(symbol) > 32:
        raise ValueError(f"bad trade id or symbol: {trade_id!r} {symbol!r}")
    if when.tzinfo is not UTC:
        when = to_utc(when)
    # ``decimal_str``'s fast path, inline (a call costs more than the check); the rest there.
    if not (
        price.__class__ is str
        and len(price) < 300
        and price.isascii()
        and price.replace(".", "", 1).isdigit()
    ):
        price = decimal_str(price)
    if not (
        size.__class__ is str
        and len(size) < 300
        and size.isascii()
        and size.replace(".", "", 1).isdigit()
    ):
        size = decimal_str(size)
    m = _new(Trade)
    _set_dict(
        m,
        {
            "schema_version": 1,
            "type": "trade",
            "exchange": exchange,
            "symbol": symbol,
            "trade_id": tid,
            "price": price,
            "size": size,
            "side": _SIDE.get(side, "unknown"),
            "time": when,
        },
    )
    # One set shared by every trade: a frozen model's fields set is never changed in place
    # (pydantic copies it first, as in ``model_copy``), and building one per trade costs more.
    _set_fields(m, _FIELDS_SET)
    _set_extra(m, None)
    _set_private(m, None)
    return m


def _utf8(text: str) -> str:
    """``text`` as valid UTF-8 (a lone surrogate from a hostile frame becomes ``?``)."""
    return text.encode("utf-8", errors="replace").decode("utf-8")


def dead_letter(venue: str, text: str, exc: BaseException, stage: str = "collect") -> DeadLetter:
    return DeadLetter(
        stage=stage,
        source=venue,
        reason=_utf8(f"malformed frame: {type(exc).__name__}: {exc}"[:2000]),
        payload=_utf8(text[:20000]),
    )


def as_text(raw: str | bytes) -> str:
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw


def loads(text: str) -> Any:
    """JSON with numbers kept as their source text (``105944.20`` stays ``"105944.20"``)."""
    return json.loads(text, parse_float=str)


fast_loads = orjson.loads
"""Plain JSON (orjson: 3-4x faster than ``json``), for venues whose prices are strings."""


# -- one-trade frames read without a JSON parser ------------------------------------------------
# Fragments for ``layout`` templates, each matching a strict subset of the JSON it stands for
# (possessive: a frame that does not match fails fast).
JSON_STR = r'"[ !#-\[\]-~]*+"'
"""A JSON string of printable ASCII without escapes (its value is its text between quotes)."""
JSON_INT = r"(?!0[0-9])[0-9]{1,18}+"
"""A non-negative JSON integer below 10**18 (its value is ``int`` of its text; orjson would
give a float for one beyond 64 bits)."""
JSON_NUM = r"(?!0[0-9])[0-9]{1,21}+(?:\.[0-9]{1,20}+)?"
"""A non-negative JSON number, no exponent, short enough to be a finite float64."""
DIGITS = r"[0-9.]{1,64}+"
"""Decimal text inside a JSON string (``trade`` then checks it as it checks any price)."""
_HOLE = re.compile(r"<(\w+)>")
Matcher = Callable[[str], "re.Match[str] | None"]


def layout(template: str, **holes: str) -> tuple[Matcher, Matcher]:
    """Matchers of frames written exactly like ``template`` (compact JSON, the keys in the
    venue's order), and of the same with Python's ``json`` separators (``": "``, ``", "``).

    ``<name>`` in the template is the regular expression ``holes[name]`` (groups there are the
    match's groups); the rest is literal and must not hold ``:`` or ``,`` inside its strings.
    With holes that match strict subsets of JSON values (``JSON_STR``, ``JSON_INT``...) every
    matching text is valid JSON whose parse is known, so a venue reads its usual one-trade frame
    with one match instead of a JSON parse and a walk through dicts; anything else (another
    layout, spacing or key order, an escape, a negative or huge number) does not match and goes
    the general way."""
    pieces = _HOLE.split(template)

    def compile_(colon: str, comma: str) -> Matcher:
        return re.compile(
            "".join(
                holes[piece] if i % 2 else re.escape(piece.replace(":", colon).replace(",", comma))
                for i, piece in enumerate(pieces)
            )
        ).fullmatch

    return compile_(":", ","), compile_(": ", ", ")


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

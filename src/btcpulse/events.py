"""Versioned events that travel on the bus, and their parsing.

Every event is a JSON object with ``type`` and ``schema_version``. ``parse_event`` turns bytes
from the bus into an event or a :class:`DeadLetter` carrying the reason: it never raises.
Prices and sizes travel as decimal strings exactly as the venue sent them.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from btcpulse.timeutil import to_utc, utcnow

SCHEMA_VERSION: Literal[1] = 1

_TRACKING_PREFIXES = ("utm_", "mc_", "fbclid", "gclid", "ref", "cmpid", "ocid", "mkt_tok")


def canonical_url(url: str) -> str:
    """Canonical form of an article URL: lower-case scheme/host, no fragment, no tracking
    parameters, sorted query, no trailing slash on the path."""
    parts = urlsplit(url.strip())
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), path, urlencode(sorted(query)), "")
    )


def article_id(url: str) -> str:
    """Article id = hash of the canonical URL (first 16 bytes of SHA-256, hex)."""
    return hashlib.sha256(canonical_url(url).encode()).hexdigest()[:32]


def _aware(value: datetime) -> datetime:
    return to_utc(value)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: Literal[1] = SCHEMA_VERSION


class NewsItem(_Event):
    """A news article or post. ``published_at`` is the event time."""

    type: Literal["news"] = "news"
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1, max_length=4000)
    title: str = Field(min_length=1, max_length=2000)
    summary: str = Field(default="", max_length=20000)
    published_at: datetime
    fetched_at: datetime
    lang: str = Field(default="en", max_length=16)
    author: str = Field(default="", max_length=500)
    body: str = Field(default="", max_length=200_000, description="Full article text, if fetched.")
    time_estimated: bool = Field(
        default=False, description="True when the source gave no published time: fetched time used."
    )

    _utc = field_validator("published_at", "fetched_at")(_aware)

    @property
    def replay(self) -> bool:
        return self.source.startswith("replay:")

    @property
    def event_time(self) -> datetime:
        return self.published_at


def _decimal_string(value: str) -> str:
    try:
        d = Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a decimal number: {value!r}") from exc
    if not d.is_finite() or d < 0:
        raise ValueError(f"not a finite non-negative number: {value!r}")
    if not math.isfinite(float(d)):  # 1e400 is a finite decimal, but inf to the engine
        raise ValueError(f"beyond the range of a float64: {value!r}")
    return value


class Trade(_Event):
    """One trade on a venue. Price and size are decimal strings as the venue sent them."""

    type: Literal["trade"] = "trade"
    exchange: str = Field(min_length=1, max_length=64)
    symbol: str = Field(min_length=1, max_length=32)
    trade_id: str = Field(min_length=1, max_length=128)
    price: str
    size: str
    side: Literal["buy", "sell", "unknown"] = "unknown"
    time: datetime

    _utc = field_validator("time")(_aware)
    _dec = field_validator("price", "size")(_decimal_string)

    @property
    def event_time(self) -> datetime:
        return self.time


class Bar(_Event):
    """A venue candle (REST backfill, replayed history). ``open_time`` is the event time."""

    type: Literal["bar"] = "bar"
    venue: str = Field(min_length=1, max_length=64)
    symbol: str = Field(min_length=1, max_length=32)
    interval_s: int = Field(gt=0, le=86400)
    open_time: datetime
    open: str
    high: str
    low: str
    close: str
    volume: str

    _utc = field_validator("open_time")(_aware)
    _dec = field_validator("open", "high", "low", "close", "volume")(_decimal_string)

    @field_validator("interval_s")
    @classmethod
    def _tiles_a_day(cls, value: int) -> int:
        # Every stored candle resolution divides a day, so a bar that does too is held by one
        # (the day, at worst); any other (17 s) could not be stored.
        if 86400 % value:
            raise ValueError(f"a bar interval must divide a day (86400 s), not {value} s")
        return value

    @property
    def event_time(self) -> datetime:
        return self.open_time


class AnalyticsUpdate(_Event):
    """An idempotent keyed snapshot for the dashboard; ``seq`` is assigned by the store."""

    type: Literal["update"] = "update"
    seq: int = 0
    key: str
    kind: str
    data: dict[str, Any]
    time: datetime = Field(default_factory=utcnow)

    _utc = field_validator("time")(_aware)


class DeadLetter(_Event):
    """Something that could not be used, with the reason; recorded, never raised."""

    type: Literal["deadletter"] = "deadletter"
    stage: str
    source: str
    reason: str
    payload: str = Field(default="", max_length=100_000)
    time: datetime = Field(default_factory=utcnow)

    _utc = field_validator("time")(_aware)

    @property
    def error_id(self) -> str:
        h = hashlib.sha256(
            "\x1f".join([self.stage, self.source, self.reason, self.payload]).encode()
        )
        return h.hexdigest()[:32]


Event = Annotated[
    NewsItem | Trade | Bar | AnalyticsUpdate | DeadLetter, Field(discriminator="type")
]
_adapter: TypeAdapter[Event] = TypeAdapter(Event)


def encode(event: _Event) -> bytes:
    return event.model_dump_json().encode()


def parse_event(raw: bytes, *, source: str = "bus") -> Event:
    """Parse bus bytes into an event; anything invalid becomes a :class:`DeadLetter`."""
    try:
        return _adapter.validate_json(raw)
    except ValidationError as exc:
        reason = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        return DeadLetter(
            stage="parse",
            source=source,
            reason=reason[:2000],
            payload=raw[:100_000].decode("utf-8", errors="replace"),
        )


def event_from_dict(obj: dict[str, Any]) -> Event:
    """Validate a python dict as an event (raises ``ValidationError``)."""
    return _adapter.validate_python(obj)

"""Timezone-aware UTC time helpers (no naive datetimes anywhere)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is refused, never guessed."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError("naive datetime: a timezone is required")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise ValueError(f"time out of range in UTC: {value.isoformat()}") from exc


def to_epoch_us(value: datetime) -> int:
    v = to_utc(value)
    return int(v.timestamp()) * 1_000_000 + v.microsecond


def from_epoch_s(s: int) -> datetime:
    return datetime.fromtimestamp(s, UTC)

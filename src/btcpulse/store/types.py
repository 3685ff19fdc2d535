"""Column types shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from btcpulse.timeutil import to_utc


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp with microseconds on every backend.

    Naive datetimes are refused on the way in; values come back aware (UTC).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        v = to_utc(value)
        return v.replace(tzinfo=None) if dialect.name == "sqlite" else v

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        out = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(out, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(out).__name__}")
        return out.replace(tzinfo=UTC) if out.tzinfo is None else out.astimezone(UTC)

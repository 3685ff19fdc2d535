"""Collectors report their state to the store's ``source_health`` table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from btcpulse.store.db import Store
from btcpulse.store.writes import put_health

log = structlog.get_logger("health")


class HealthReporter:
    """Writes one source's status; a store outage is logged, never raised into the collector."""

    def __init__(self, store: Store, name: str, kind: str) -> None:
        self.store = store
        self.name = name
        self.kind = kind

    def _put(
        self,
        status: str,
        *,
        ok: bool | None = None,
        error: str | None = None,
        items: int = 0,
        detail: str | None = None,
        next_poll: datetime | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        try:
            with self.store.begin() as conn:
                put_health(
                    conn,
                    self.name,
                    kind=self.kind,
                    status=status,
                    ok=ok,
                    error=error,
                    items=items,
                    detail=detail,
                    next_poll=next_poll,
                    metrics=metrics,
                )
        except SQLAlchemyError as exc:
            log.warning("health.unrecorded", source=self.name, error=str(exc))

    def up(
        self,
        items: int = 0,
        detail: str | None = None,
        *,
        next_poll: datetime | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        self._put("up", ok=True, items=items, detail=detail, next_poll=next_poll, metrics=metrics)

    def down(
        self,
        reason: str,
        detail: str | None = None,
        *,
        next_poll: datetime | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        self._put("down", error=reason, detail=detail, next_poll=next_poll, metrics=metrics)

    def status(self, status: str, detail: str | None = None) -> None:
        self._put(status, detail=detail)

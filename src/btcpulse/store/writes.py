"""Write helpers used by the engines and collectors; each is an idempotent upsert."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, delete, func, select

from btcpulse.bus.base import TopicPartition
from btcpulse.events import AnalyticsUpdate, DeadLetter
from btcpulse.store import schema as t
from btcpulse.store.upsert import upsert
from btcpulse.timeutil import utcnow


def put_candles(conn: Connection, candles: pl.DataFrame) -> None:
    if candles.is_empty():
        return
    rows = candles.with_columns(
        pl.col("venue").str.starts_with("replay:").alias("replay")
    ).to_dicts()
    upsert(conn, t.candles, rows)


def put_errors(conn: Connection, letters: Iterable[DeadLetter]) -> None:
    rows = {
        dl.error_id: {
            "id": dl.error_id,
            "time": dl.time,
            "stage": dl.stage,
            "source": dl.source[:200],
            "reason": dl.reason,
            "payload": dl.payload,
        }
        for dl in letters
    }
    upsert(conn, t.errors, list(rows.values()), do_nothing=True)


def put_offsets(conn: Connection, consumer: str, offsets: dict[TopicPartition, int]) -> None:
    upsert(
        conn,
        t.engine_offsets,
        [
            {"consumer": consumer, "topic": tp.topic, "partition": tp.partition, "next_offset": o}
            for tp, o in offsets.items()
        ],
    )


def get_offsets(conn: Connection, consumer: str) -> dict[TopicPartition, int]:
    rows = conn.execute(
        select(
            t.engine_offsets.c.topic, t.engine_offsets.c.partition, t.engine_offsets.c.next_offset
        ).where(t.engine_offsets.c.consumer == consumer)
    ).all()
    return {TopicPartition(r.topic, r.partition): int(r.next_offset) for r in rows}


def put_updates(conn: Connection, updates: Sequence[AnalyticsUpdate]) -> list[AnalyticsUpdate]:
    """Store keyed snapshots, giving each a new sequence number (the last one per key wins)."""
    if not updates:
        return []
    latest: dict[str, AnalyticsUpdate] = {}
    for u in updates:
        latest.pop(u.key, None)
        latest[u.key] = u
    top = conn.execute(select(func.coalesce(func.max(t.updates.c.seq), 0))).scalar_one()
    stored = [u.model_copy(update={"seq": int(top) + i + 1}) for i, u in enumerate(latest.values())]
    upsert(
        conn,
        t.updates,
        [
            {"key": u.key, "seq": u.seq, "kind": u.kind, "data": json.dumps(u.data), "time": u.time}
            for u in stored
        ],
    )
    return stored


UPDATES_STATE = "updates"


def prune_updates(conn: Connection, older_than: datetime) -> None:
    """Forget old updates, always keeping the newest so that ``seq`` never restarts, and
    remember the highest ``seq`` forgotten: a client behind it must reload, not catch up."""
    u = t.updates.c
    top = conn.execute(select(func.max(u.seq))).scalar_one_or_none()
    if top is None:
        return
    # ``seq + 0`` keeps the planner on the time index (not a walk of the whole seq index)
    doomed = (u.time < older_than) & (u.seq + 0 < top)
    cut = conn.execute(select(func.max(u.seq + 0)).where(doomed)).scalar_one_or_none()
    if cut is None:
        return
    conn.execute(delete(t.updates).where(doomed))
    before = (get_state(conn, UPDATES_STATE) or {}).get("pruned_upto", 0)
    put_state(conn, UPDATES_STATE, {"pruned_upto": max(int(before), int(cut))})


def put_health(
    conn: Connection,
    name: str,
    *,
    kind: str,
    status: str,
    ok: bool | None = None,
    error: str | None = None,
    items: int = 0,
    detail: str | None = None,
    next_poll: datetime | None = None,
    metrics: dict[str, Any] | None = None,
) -> None:
    """Record a source's state. ``ok=True`` marks a success, an ``error`` a failure.

    ``metrics`` (JSON-able numbers such as items_per_hour, messages_per_s, reconnects,
    gaps_filled) are merged into the stored ones, and every error counts one more
    ``failures``; ``next_poll`` is when a poller runs again.
    """
    now = utcnow()
    row = conn.execute(select(t.source_health).where(t.source_health.c.name == name)).first()
    merged: dict[str, Any] = json.loads(row.metrics) if row is not None and row.metrics else {}
    merged.update(metrics or {})
    if error is not None:  # counted for /metrics (btcpulse_stage_errors_total)
        merged["failures"] = int(merged.get("failures", 0)) + 1
    values: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "status": status,
        "last_success": row.last_success if row else None,
        "last_error": row.last_error if row else None,
        "last_error_reason": row.last_error_reason if row else None,
        "items_total": (row.items_total if row else 0) + items,
        "detail": detail,
        "next_poll_at": next_poll,
        "metrics": json.dumps(merged, sort_keys=True) if merged else None,
        "updated_at": now,
    }
    if ok:
        values["last_success"] = now
    if error is not None:
        values["last_error"] = now
        values["last_error_reason"] = error[:2000]
    upsert(conn, t.source_health, [values])


def get_state(conn: Connection, name: str) -> dict[str, Any] | None:
    raw = conn.execute(
        select(t.collector_state.c.state).where(t.collector_state.c.name == name)
    ).scalar_one_or_none()
    return None if raw is None else dict(json.loads(raw))


def put_state(conn: Connection, name: str, state: dict[str, Any]) -> None:
    upsert(
        conn,
        t.collector_state,
        [{"name": name, "state": json.dumps(state), "updated_at": utcnow()}],
    )

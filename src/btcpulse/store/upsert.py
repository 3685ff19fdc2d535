"""Idempotent writes: insert-or-update on a natural key, for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    update: Sequence[str] | None = None,
    do_nothing: bool = False,
) -> None:
    """Insert ``rows``; on a primary-key conflict overwrite ``update`` columns (default: all
    non-key columns), or keep the stored row when ``do_nothing``."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    name = conn.dialect.name
    if name == "sqlite":
        stmt: Any = sqlite.insert(table)
    elif name == "postgresql":
        stmt = postgresql.insert(table)
    else:  # pragma: no cover - guarded by Store
        raise RuntimeError(f"unsupported database dialect {name!r}")
    if do_nothing:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    else:
        cols = (
            update if update is not None else [c.name for c in table.columns if c.name not in keys]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: getattr(stmt.excluded, c) for c in cols}
        )
    conn.execute(stmt, list(rows))

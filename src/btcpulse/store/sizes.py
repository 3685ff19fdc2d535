"""Rows and bytes per table (``btcpulse doctor``), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text

from btcpulse.store import schema as t
from btcpulse.store.db import Store


@dataclass(frozen=True)
class TableSize:
    name: str
    rows: int
    bytes: int | None  # table + its indexes; None where the database cannot tell


def table_sizes(store: Store) -> list[TableSize]:
    """Every table of the schema, largest first."""
    out = []
    with store.read() as conn:
        if store.dialect == "sqlite":
            try:  # dbstat: pages per table and per index, named by table
                stat = conn.execute(
                    text(
                        "SELECT COALESCE(m.tbl_name, d.name), SUM(d.pgsize) FROM dbstat d "
                        "LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY 1"
                    )
                ).all()
                by_table: dict[str, int] | None = {str(n): int(b) for n, b in stat}
            except Exception:  # SQLite built without dbstat
                by_table = None
        for table in t.metadata.sorted_tables:
            rows = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            if store.dialect == "sqlite":
                size = None if by_table is None else by_table.get(table.name, 0)
            else:
                size = int(
                    conn.execute(
                        select(func.pg_total_relation_size(text(f"'{table.name}'::regclass")))
                    ).scalar_one()
                )
            out.append(TableSize(table.name, rows, size))
    return sorted(out, key=lambda s: (-(s.bytes or 0), -s.rows, s.name))

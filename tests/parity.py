"""Compare two stores table by table: the same rows, floats to a relative 1e-9."""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import select

from btcpulse.store import schema as t
from btcpulse.store.db import Store

# Columns that say *when* a row was written, not what it holds.
WRITE_TIMES = {"enriched_at", "created_at", "updated_at", "computed_at", "fetched_at"}
COMPARED = [
    "news",
    "enrichments",
    "news_tags",
    "news_stories",
    "stories",
    "trades",
    "bars",
    "candles",
    "errors",
    "bursts",
    "impacts",
    "index_values",
    "alerts",
]


def rows_of(store: Store, name: str) -> list[dict[str, Any]]:
    table = t.metadata.tables[name]
    keys = [c.name for c in table.primary_key.columns] or [c.name for c in table.columns]
    skip = set(WRITE_TIMES)
    if name == "errors":
        # An error's id, time and source name *where* the bad message sat (topic, partition,
        # offset: one partition embedded, four on Kafka) and when it was seen; what it *is*
        # (stage, reason, payload) must match.
        skip |= {"id", "time", "source"}
        keys = ["stage", "reason", "payload"]
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(table))]
    out = [{k: v for k, v in r.items() if k not in skip} for r in rows]
    return sorted(out, key=lambda r: tuple(str(r[k]) for k in keys))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, str) and isinstance(b, str) and a[:1] in "{[" and a != b:
        try:  # JSON columns (alert params, index drivers): their floats to the same tolerance
            return _same(json.loads(a), json.loads(b))
        except ValueError:
            return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_same_store(embedded: Store, distributed: Store) -> dict[str, int]:
    counts = {}
    for name in COMPARED:
        left, right = rows_of(embedded, name), rows_of(distributed, name)
        assert len(left) == len(right), (
            f"{name}: {len(left)} rows embedded, {len(right)} distributed"
        )
        for x, y in zip(left, right, strict=True):
            diff = {k: (x[k], y[k]) for k in x if not _same(x[k], y[k])}
            assert not diff, f"{name}: rows differ {diff}"
        counts[name] = len(left)
    return counts

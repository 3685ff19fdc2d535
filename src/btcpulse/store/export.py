"""Streamed exports of candles, news and the sentiment index as CSV or Parquet.

Rows leave the database in batches (a server-side cursor on PostgreSQL, an incremental fetch on
SQLite) and each batch is encoded and handed on before the next is read, so memory stays flat
whatever the range. Used by ``GET /api/v1/export/{kind}`` and ``btcpulse export``.

Text from the web (titles, summaries…) is untrusted: in CSV, a text cell that a spreadsheet
would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first) is prefixed with ``'``.
Parquet keeps every value as it is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Select, and_, select

from btcpulse.analytics.candles import vwap
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.timeutil import from_epoch_s

Kind = Literal["candles", "news", "analytics"]
Format = Literal["csv", "parquet"]
KINDS: tuple[Kind, ...] = ("candles", "news", "analytics")
BATCH_ROWS = 5000

COLUMNS: dict[Kind, pa.Schema] = {
    "candles": pa.schema(
        [
            ("time", pa.string()),
            ("t", pa.int64()),
            ("venue", pa.string()),
            ("symbol", pa.string()),
            ("resolution_s", pa.int64()),
            ("open", pa.float64()),
            ("high", pa.float64()),
            ("low", pa.float64()),
            ("close", pa.float64()),
            ("volume", pa.float64()),
            ("quote_volume", pa.float64()),
            ("vwap", pa.float64()),
            ("trades", pa.int64()),
        ]
    ),
    "news": pa.schema(
        [
            ("published_at", pa.string()),
            ("id", pa.string()),
            ("source", pa.string()),
            ("url", pa.string()),
            ("title", pa.string()),
            ("summary", pa.string()),
            ("author", pa.string()),
            ("lang", pa.string()),
            ("replay", pa.bool_()),
            ("sentiment", pa.float64()),
            ("sentiment_label", pa.string()),
            ("model_version", pa.string()),
            ("topics", pa.string()),
            ("entities", pa.string()),
            ("story_id", pa.string()),
        ]
    ),
    "analytics": pa.schema(
        [
            ("time", pa.string()),
            ("t", pa.int64()),
            ("index", pa.float64()),
            ("sentiment", pa.float64()),
            ("volume", pa.float64()),
            ("momentum", pa.float64()),
            ("volatility", pa.float64()),
            ("n_news", pa.int64()),
        ]
    ),
}


@dataclass(frozen=True)
class ExportQuery:
    """What to export: ``[lo, hi)`` in epoch seconds, and for candles the series."""

    kind: Kind
    lo: int
    hi: int
    venue: str | None = None
    symbol: str = "BTC-USD"
    resolution_s: int = 60
    replay: bool = False
    model_version: str = ""

    def filename(self, fmt: Format) -> str:
        span = f"{from_epoch_s(self.lo):%Y%m%dT%H%M}-{from_epoch_s(self.hi):%Y%m%dT%H%M}"
        what: str = self.kind
        if self.kind == "candles":
            what = f"candles-{self.venue}-{self.symbol}-{self.resolution_s}s".replace(":", "_")
        return f"btcpulse-{what}-{span}.{fmt}"


def _select(q: ExportQuery) -> Select[Any]:
    if q.kind == "candles":
        c = t.candles.c
        res = q.resolution_s
        return (
            select(
                c.start,
                c.venue,
                c.symbol,
                c.resolution_s,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
                c.quote_volume,
                c.trades,
            )
            .where(
                and_(
                    c.venue == q.venue,
                    c.symbol == q.symbol,
                    c.resolution_s == res,
                    c.start >= q.lo - q.lo % res,
                    c.start < q.hi,
                )
            )
            .order_by(c.start)
        )
    if q.kind == "news":
        n, e, g, ns = t.news.c, t.enrichments.c, t.news_tags.c, t.news_stories.c
        return (
            select(
                n.published_at,
                n.id,
                n.source,
                n.url,
                n.title,
                n.summary,
                n.author,
                n.lang,
                n.replay,
                e.sentiment,
                e.sentiment_label,
                e.model_version,
                g.topics,
                g.entities,
                ns.story_id,
            )
            .select_from(
                t.news.outerjoin(
                    t.enrichments, and_(e.news_id == n.id, e.model_version == q.model_version)
                )
                .outerjoin(t.news_tags, g.news_id == n.id)
                .outerjoin(t.news_stories, ns.news_id == n.id)
            )
            .where(
                and_(
                    n.published_at >= from_epoch_s(q.lo),
                    n.published_at < from_epoch_s(q.hi),
                )
            )
            .order_by(n.published_at, n.id)
        )
    i = t.index_values.c
    return (
        select(i.time, i.value, i.sentiment_c, i.volume_c, i.momentum_c, i.volatility_c, i.n_news)
        .where(
            and_(
                i.replay == q.replay,
                i.time >= q.lo,
                i.time < q.hi,
                i.model_version == q.model_version,
            )
        )
        .order_by(i.time)
    )


def _row(kind: Kind, r: Sequence[Any]) -> tuple[Any, ...]:
    if kind == "candles":
        start = int(r[0])
        return (
            from_epoch_s(start).isoformat(),
            start,
            *r[1:4],
            *(float(x) for x in r[4:10]),
            vwap(float(r[9]), float(r[8])),
            int(r[10]),
        )
    if kind == "news":
        topics = ";".join(json.loads(r[12])) if r[12] else ""
        entities = ";".join(x["name"] for x in json.loads(r[13])) if r[13] else ""
        return (r[0].isoformat(), *r[1:8], bool(r[8]), *r[9:12], topics, entities, r[14])
    time_s = int(r[0])
    return (from_epoch_s(time_s).isoformat(), time_s, *r[1:6], int(r[6]))


Rows = Iterator[list[tuple[Any, ...]]]


def batches(store: Store, q: ExportQuery, size: int = BATCH_ROWS) -> Rows:
    """The export's rows, ``size`` at a time, read lazily from the store."""
    with store.read() as conn:
        result = conn.execution_options(yield_per=size).execute(_select(q))
        for part in result.partitions(size):
            yield [_row(q.kind, r) for r in part]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def to_csv(kind: Kind, rows: Rows) -> Iterator[bytes]:
    """A header, then one chunk per batch (UTF-8, RFC 4180 quoting)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS[kind].names)
    for batch in rows:
        writer.writerows([tuple(_cell(v) for v in r) for r in batch])
        yield buf.getvalue().encode()
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode()


class _Chunks:
    """A write-only file for ``ParquetWriter`` whose bytes are taken out as they come."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def to_parquet(kind: Kind, rows: Rows) -> Iterator[bytes]:
    """One row group per batch, each handed on as soon as it is written; the footer last."""
    schema = COLUMNS[kind]
    sink = _Chunks()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        for batch in rows:
            if not batch:
                continue
            columns = [list(col) for col in zip(*batch, strict=True)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            if chunk := sink.take():
                yield chunk
    finally:
        writer.close()
    if chunk := sink.take():
        yield chunk


def stream(store: Store, q: ExportQuery, fmt: Format) -> Iterator[bytes]:
    encode = to_csv if fmt == "csv" else to_parquet
    return encode(q.kind, batches(store, q))

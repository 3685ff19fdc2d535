"""Streamed exports of candles, news and the sentiment index as CSV or Parquet.

Rows leave the database in batches (a server-side cursor on PostgreSQL, an incremental fetch on
SQLite) and each batch is encoded and handed on before the next is read, so memory stays flat
whatever the range. Used by ``GET /api/v1/export/{kind}`` and ``btcpulse export``.

Text from the web (titles, summaries…) is untrusted: in CSV, a text cell that a spreadsheet
would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first) is prefixed with ``'``.
Parquet keeps every value as it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Select, and_, select

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


_ISO_S = "%Y-%m-%dT%H:%M:%S+00:00"
_PRICES = ("open", "high", "low", "close", "volume", "quote_volume")
_INDEX = ("index", "sentiment", "volume", "momentum", "volatility")
_TEXT = ("id", "source", "url", "title", "summary", "author")
_RAW: dict[Kind, dict[str, pl.DataType | type[pl.DataType]]] = {
    "candles": {
        "t": pl.Int64,
        "venue": pl.String,
        "symbol": pl.String,
        "resolution_s": pl.Int64,
        **dict.fromkeys(_PRICES, pl.Float64),
        "trades": pl.Int64,
    },
    "news": {
        "published_at": pl.Datetime("us", "UTC"),
        **dict.fromkeys(_TEXT, pl.String),
        "lang": pl.String,
        "replay": pl.Boolean,
        "sentiment": pl.Float64,
        "sentiment_label": pl.String,
        "model_version": pl.String,
        "topics": pl.String,
        "entities": pl.String,
        "story_id": pl.String,
    },
    "analytics": {"t": pl.Int64, **dict.fromkeys(_INDEX, pl.Float64), "n_news": pl.Int64},
}
_ENTITY = pl.Struct({"name": pl.String, "type": pl.String})


def _frame(kind: Kind, rows: Sequence[Sequence[Any]]) -> pl.DataFrame:
    """One batch of selected rows → the export's columns (vectorised)."""
    raw = pl.DataFrame([tuple(r) for r in rows], schema=_RAW[kind], orient="row")
    if kind == "candles":
        vol = pl.col("volume")
        out = raw.with_columns(
            pl.from_epoch("t", "s").dt.strftime(_ISO_S).alias("time"),
            pl.when(vol > 0).then(pl.col("quote_volume") / vol).alias("vwap"),
        )
    elif kind == "news":
        out = raw.with_columns(
            pl.col("published_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00"),
            pl.col("topics").str.json_decode(pl.List(pl.String)).list.join(";").fill_null(""),
            pl.col("entities")
            .str.json_decode(pl.List(_ENTITY))
            .list.eval(pl.element().struct.field("name"))
            .list.join(";")
            .fill_null(""),
        )
    else:
        out = raw.with_columns(pl.from_epoch("t", "s").dt.strftime(_ISO_S).alias("time"))
    return out.select(COLUMNS[kind].names)


Frames = Iterator[pl.DataFrame]


def batches(store: Store, q: ExportQuery, size: int = BATCH_ROWS) -> Frames:
    """The export's rows, ``size`` at a time, read lazily from the store."""
    with store.read() as conn:
        result = conn.execution_options(yield_per=size).execute(_select(q))
        for part in result.partitions(size):
            yield _frame(q.kind, part)


_FORMULA = r"^[=+\-@\t\r]"
"""A cell a spreadsheet would run as a formula starts with one of these."""


def to_csv(kind: Kind, frames: Frames) -> Iterator[bytes]:
    """A header, then one chunk per batch (UTF-8, RFC 4180 quoting)."""
    header = True
    text = [c for c in COLUMNS[kind].names if c in _TEXT or c in ("venue", "symbol", "lang")]
    text += [c for c in ("sentiment_label", "model_version", "topics", "entities", "story_id")]
    for df in frames:
        safe = df.with_columns(
            pl.when(pl.col(c).str.contains(_FORMULA))
            .then(pl.lit("'") + pl.col(c))
            .otherwise(pl.col(c))
            .alias(c)
            for c in text
            if c in df.columns
        )
        yield safe.write_csv(include_header=header, line_terminator="\r\n").encode()
        header = False
    if header:  # no row at all: the header alone
        yield (",".join(COLUMNS[kind].names) + "\r\n").encode()


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


def to_parquet(kind: Kind, frames: Frames) -> Iterator[bytes]:
    """One row group per batch, each handed on as soon as it is written; the footer last."""
    schema = COLUMNS[kind]
    sink = _Chunks()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        for df in frames:
            if df.height:
                writer.write_table(df.to_arrow().cast(schema))
                if chunk := sink.take():
                    yield chunk
    finally:
        writer.close()
    if chunk := sink.take():
        yield chunk


def stream(store: Store, q: ExportQuery, fmt: Format) -> Iterator[bytes]:
    encode = to_csv if fmt == "csv" else to_parquet
    return encode(q.kind, batches(store, q))

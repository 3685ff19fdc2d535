"""Retention of raw data once rolled up: raw trades and full article text past their age.

Candles at every resolution, news metadata (title, summary, tags, sentiment, stories) and the
derived analytics are never removed, so every chart and query over an old range answers as
before. Deleting trades *seals* their candles: the cutoff is saved (``sealed_before``) and the
engine refuses, as a dead letter, a trade arriving later for a sealed second (it would rewrite
that second's candle from itself alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, delete, func, update

from btcpulse.store import schema as t
from btcpulse.store.writes import get_state, put_state
from btcpulse.timeutil import from_epoch_s

RETENTION_STATE = "retention"
MIN_TRADES_DAYS = 1.0
"""Raw trades are kept at least a day: late trades must find their second's other trades."""


@dataclass(frozen=True)
class Removed:
    trades: int
    article_texts: int
    logs: int = 0


def apply_retention(
    conn: Connection,
    now: datetime,
    *,
    trades_days: float,
    article_text_days: float,
    logs_days: float = 0,
) -> Removed:
    """Delete raw trades past their age (event time), blank article text fetched longer
    ago than its age (an old article fetched today keeps its text for the full period) and
    delete stored log records past theirs; 0 days keeps forever."""
    trades = texts = logs = 0
    if logs_days > 0:
        cutoff = now - timedelta(days=logs_days)
        logs = conn.execute(delete(t.logs).where(t.logs.c.time < cutoff)).rowcount
    if trades_days > 0:
        cutoff = now - timedelta(days=max(trades_days, MIN_TRADES_DAYS))
        trades = conn.execute(delete(t.trades).where(t.trades.c.time < cutoff)).rowcount
        sealed = sealed_before(conn)
        if sealed is None or cutoff > sealed:
            put_state(conn, RETENTION_STATE, {"trades_sealed_before": int(cutoff.timestamp())})
    if article_text_days > 0:
        n = t.news.c
        cutoff = now - timedelta(days=article_text_days)
        texts = conn.execute(
            update(t.news)
            .where(and_(n.fetched_at < cutoff, func.length(n.body) > 0))
            .values(body="")
        ).rowcount
    return Removed(trades=int(trades), article_texts=int(texts), logs=int(logs))


def sealed_before(conn: Connection) -> datetime | None:
    """Trades before this time have been deleted: their candles are final."""
    state = get_state(conn, RETENTION_STATE) or {}
    value = state.get("trades_sealed_before")
    return None if value is None else from_epoch_s(int(value))

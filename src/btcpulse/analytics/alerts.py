"""Alert rules evaluated over the index, the news bursts and the price: deduplicated alerts.

A cross-batch, derived analytic (contract 1): ``evaluate(rules, index, bursts, candles)`` runs
after each batch over the recent rows and returns every alert those rows trigger. An alert's
``alert_id`` is a hash of the rule and of the window that triggered it, so evaluating the same
data again (the next batch, a replayed batch, another engine) gives the same ids: stored by
``alert_id`` (upsert), an alert is kept once. The rules:

- ``IndexCross(level, direction)`` fires at each time ``T`` where the index crosses ``level``:
  ``up`` when the previous index row is below it and the one at ``T`` at or above it, ``down``
  the mirror image. Keyed by ``T``; ``value`` is the index at ``T``. ``index`` must include the
  row before the first ``T`` to evaluate.
- ``Burst(z)`` fires once per burst window ``(key, resolution_s, start)`` whose ``z`` reaches
  the threshold, at ``time = start``; ``value`` is the window's current ``z`` (a window whose
  count grows keeps its id and updates its value).
- ``PriceMove(pct, minutes)`` looks at ``change = close_T / close_(T - minutes) - 1`` over the
  1-minute candles (the earlier close is the last candle starting in ``(T - 2·minutes,
  T - minutes]``) and fires at the first ``T`` of each ``minutes``-aligned window (``T //
  (60·minutes)``) where ``|change| ≥ pct / 100``: a move fires once per window, not every
  minute it lasts. Keyed by the aligned window; ``value`` is the change in percent (signed).
  ``candles`` must reach ``minutes`` before the start of the first window to evaluate, and
  hold each evaluated window from its start, so that "the first ``T``" is the same in every
  batch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import polars as pl

from btcpulse.analytics.market import closes

ALERTS_VERSION = "alerts-1"

ALERT_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    "alert_id": pl.String,
    "rule": pl.String,
    "kind": pl.String,
    "time": pl.Int64,
    "value": pl.Float64,
    "message": pl.String,
    "params": pl.String,  # JSON: the figures in the message, for a localised rendering
}


@dataclass(frozen=True)
class IndexCross:
    level: float
    direction: Literal["up", "down"]

    kind = "index_cross"

    def __post_init__(self) -> None:
        if self.direction not in ("up", "down"):
            raise ValueError("direction must be 'up' or 'down'")

    def key(self) -> str:
        return f"{self.kind}|{float(self.level)!r}|{self.direction}"

    def describe(self) -> str:
        return f"index crosses {'above' if self.direction == 'up' else 'below'} {self.level:g}"


@dataclass(frozen=True)
class Burst:
    z: float = 3.0

    kind = "burst"

    def key(self) -> str:
        return f"{self.kind}|{float(self.z)!r}"

    def describe(self) -> str:
        return f"news burst with z >= {self.z:g}"


@dataclass(frozen=True)
class PriceMove:
    pct: float
    minutes: int

    kind = "price_move"

    def __post_init__(self) -> None:
        if self.pct <= 0 or self.minutes < 1:
            raise ValueError("pct must be positive and minutes at least 1")

    def key(self) -> str:
        return f"{self.kind}|{float(self.pct)!r}|{int(self.minutes)}"

    def describe(self) -> str:
        return f"price moves {self.pct:g}% or more within {self.minutes} min"


Rule = IndexCross | Burst | PriceMove


def alert_id(rule: Rule, window: str) -> str:
    """Stable id of the alert ``rule`` raises for ``window``: equal rules, equal ids."""
    return hashlib.sha256(f"{ALERTS_VERSION}|{rule.key()}|{window}".encode()).hexdigest()[:24]


def _hhmm(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: int) -> str:
    units = ((86_400, "d"), (3600, "h"), (60, "min"), (1, "s"))
    unit, name = next((u, n) for u, n in units if seconds % u == 0)
    return f"{seconds // unit} {name}"


def _index_cross(rule: IndexCross, index: pl.DataFrame) -> list[dict[str, object]]:
    df = (
        index.select(pl.col("time").cast(pl.Int64), pl.col("index").cast(pl.Float64).fill_nan(None))
        .drop_nulls()
        .unique(subset="time", keep="first")
        .sort("time")
    )
    prev = pl.col("index").shift(1)
    if rule.direction == "up":
        hit = (prev < rule.level) & (pl.col("index") >= rule.level)
    else:
        hit = (prev > rule.level) & (pl.col("index") <= rule.level)
    word = "above" if rule.direction == "up" else "below"
    return [
        {
            "alert_id": alert_id(rule, str(t)),
            "rule": rule.describe(),
            "kind": rule.kind,
            "time": t,
            "value": v,
            "message": f"The sentiment index crossed {word} {rule.level:g} at {_hhmm(t)} "
            f"(now {v:.1f}, was {p:.1f}).",
            "params": json.dumps(
                {"direction": rule.direction, "level": float(rule.level), "now": v, "was": p}
            ),
        }
        for t, v, p in df.with_columns(prev.alias("prev"))
        .filter(hit)
        .select("time", "index", "prev")
        .iter_rows()
    ]


def _bursts(rule: Burst, bursts: pl.DataFrame) -> list[dict[str, object]]:
    df = (
        bursts.select(
            pl.col("key").cast(pl.String),
            pl.col("start").cast(pl.Int64),
            pl.col("resolution_s").cast(pl.Int64),
            pl.col("count").cast(pl.Int64).fill_null(0),
            pl.col("z").cast(pl.Float64).fill_nan(None),
        )
        .drop_nulls(["key", "start", "resolution_s", "z"])
        .filter(pl.col("z") >= rule.z)
        .sort(["key", "resolution_s", "start", "z", "count"])
        .unique(subset=["key", "resolution_s", "start"], keep="last", maintain_order=True)
    )
    return [
        {
            "alert_id": alert_id(rule, f"{key}|{res}|{start}"),
            "rule": rule.describe(),
            "kind": rule.kind,
            "time": start,
            "value": z,
            "message": f"News burst on {key}: {count} articles in the {_duration(res)} "
            f"from {_hhmm(start)}, {z:.1f} standard deviations above normal.",
            "params": json.dumps({"key": key, "count": count, "resolution_s": res, "z": z}),
        }
        for key, start, res, count, z in df.iter_rows()
    ]


def _price_moves(rule: PriceMove, candles: pl.DataFrame) -> list[dict[str, object]]:
    lag = rule.minutes * 60
    px = closes(candles)
    then = px.select(pl.col("start").alias("then_s"), pl.col("close").alias("then"))
    df = (
        px.with_columns((pl.col("start") - lag).alias("t0"))
        .join_asof(then, left_on="t0", right_on="then_s", strategy="backward", tolerance=lag - 1)
        .drop_nulls("then")
        .with_columns((pl.col("close") / pl.col("then") - 1.0).alias("change"))
        .filter(pl.col("change").abs() >= rule.pct / 100.0)
        .with_columns((pl.col("start") // lag * lag).alias("window"))
        .unique(subset="window", keep="first", maintain_order=True)
    )
    out: list[dict[str, object]] = []
    for t, close, before, change, window in df.select(
        "start", "close", "then", "change", "window"
    ).iter_rows():
        verb = "rose" if change > 0 else "fell"
        out.append(
            {
                "alert_id": alert_id(rule, str(window)),
                "rule": rule.describe(),
                "kind": rule.kind,
                "time": t,
                "value": 100.0 * change,
                "message": f"Bitcoin {verb} {abs(100.0 * change):.2f}% in {rule.minutes} min, "
                f"from {before:,.2f} to {close:,.2f} at {_hhmm(t)}.",
                "params": json.dumps(
                    {
                        "minutes": rule.minutes,
                        "from": before,
                        "to": close,
                        "change_pct": 100 * change,
                    }
                ),
            }
        )
    return out


def evaluate(
    rules: Sequence[Rule],
    index: pl.DataFrame | None,
    bursts: pl.DataFrame | None,
    candles: pl.DataFrame | None,
) -> pl.DataFrame:
    """Every alert the rules raise over the given rows (see the module doc), sorted by time.

    ``None`` (or an empty frame) for an input means no rows: its rules raise nothing.
    """
    rows: list[dict[str, object]] = []
    for rule in rules:
        if isinstance(rule, IndexCross):
            rows += _index_cross(rule, index) if index is not None and index.height else []
        elif isinstance(rule, Burst):
            rows += _bursts(rule, bursts) if bursts is not None and bursts.height else []
        else:
            rows += _price_moves(rule, candles) if candles is not None and candles.height else []
    if not rows:
        return pl.DataFrame(schema=ALERT_SCHEMA)
    return (
        pl.DataFrame(rows, schema=ALERT_SCHEMA)
        .unique(subset="alert_id", keep="first", maintain_order=True)
        .sort(["time", "kind", "alert_id"])
    )

"""Prometheus metrics: every stage's counters, read from the store, plus the web push's own.

Each stage records its counters where it already reports its health (``source_health`` and
the engine's state), so one scrape of any web replica shows the whole pipeline, whatever
process or machine each stage runs on. Stages: the collectors by kind (news, articles,
prices, replay, backfill), the engine (embedded or Spark) and the web push.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select

from btcpulse.store import queries
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state
from btcpulse.web.live import Hub


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


class PipelineCollector(Collector):
    def __init__(self, store: Store, hub: Hub) -> None:
        self.store = store
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        with self.store.read() as conn:
            h = queries.health(conn)
            seq = queries.last_seq(conn)
            engine = get_state(conn, "engine") or {}
            yield from self._tables(conn)
        yield from self._stages(h["sources"], engine)
        yield from self._engine(engine)
        yield GaugeMetricFamily(
            "btcpulse_ws_clients", "Connected WebSocket clients", value=len(self.hub.clients)
        )
        yield CounterMetricFamily(
            "btcpulse_ws_messages_sent", "Updates sent to WebSocket clients", value=self.hub.sent
        )
        yield GaugeMetricFamily("btcpulse_errors", "Dead letters recorded", value=h["errors_total"])
        yield GaugeMetricFamily("btcpulse_updates_seq", "Last analytics update sequence", value=seq)

    def _tables(self, conn: Connection) -> Iterator[Metric]:
        dead = CounterMetricFamily(
            "btcpulse_dead_letters",
            "Dead letters recorded, by the stage that rejected them",
            labels=["stage"],
        )
        q = select(t.errors.c.stage, func.count()).group_by(t.errors.c.stage)
        for stage, n in conn.execute(q):
            dead.add_metric([stage], float(n))
        yield dead
        logs = CounterMetricFamily(
            "btcpulse_log_records",
            "Warnings and errors kept in the store's logs table",
            labels=["component", "level"],
        )
        c = t.logs.c
        q = select(c.component, c.level, func.count()).group_by(c.component, c.level)
        for component, level, n in conn.execute(q):
            logs.add_metric([component, level], float(n))
        yield logs

    def _stages(self, sources: list[dict[str, Any]], engine: dict[str, Any]) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "btcpulse_source_up", "1 if the source is up", labels=["source", "kind"]
        )
        items = GaugeMetricFamily(
            "btcpulse_source_items", "Items produced by the source", labels=["source", "kind"]
        )
        produced: dict[str, float] = defaultdict(float)
        failures: dict[str, float] = defaultdict(float)
        for s in sources:
            up.add_metric([s["name"], s["kind"]], 1.0 if s["status"] == "up" else 0.0)
            items.add_metric([s["name"], s["kind"]], _num(s["items_total"]))
            failures[s["kind"]] += _num(s["metrics"].get("failures"))
            if s["kind"] != "engine":
                produced[s["kind"]] += _num(s["items_total"])
        produced["engine"] = _num(engine.get("updates"))
        produced["web"] = float(self.hub.sent)
        consumed = {"engine": _num(engine.get("messages")), "web": float(self.hub.received)}
        yield up
        yield items
        yield self._by_stage(
            "btcpulse_stage_events_in",
            "Events a stage consumed (engine: messages read from the bus; web: updates to push)",
            consumed,
        )
        yield self._by_stage(
            "btcpulse_stage_events_out",
            "Events a stage produced (collectors: onto the bus; engine: analytics updates; "
            "web: messages pushed to browsers)",
            produced,
        )
        yield self._by_stage(
            "btcpulse_stage_errors",
            "Failures a stage recorded (failed polls, lost connections, crashed children)",
            failures,
        )

    @staticmethod
    def _by_stage(name: str, doc: str, values: dict[str, float]) -> CounterMetricFamily:
        family = CounterMetricFamily(name, doc, labels=["stage"])
        for stage, n in sorted(values.items()):
            family.add_metric([stage], n)
        return family

    def _engine(self, st: dict[str, Any]) -> Iterator[Metric]:
        name = str(st.get("engine", "embedded"))
        lag = GaugeMetricFamily(
            "btcpulse_consumer_lag_messages",
            "Messages on the bus the consumer has not processed yet",
            labels=["consumer"],
        )
        if st.get("lag") is not None:
            lag.add_metric([name], _num(st["lag"]))
        yield lag
        batches = SummaryMetricFamily(
            "btcpulse_batch_duration_seconds",
            "Time to apply a micro-batch (parse, analytics, store, publish)",
            labels=["engine"],
        )
        batches.add_metric(
            [name],
            count_value=int(_num(st.get("batches"))),
            sum_value=_num(st.get("batch_seconds")),
        )
        yield batches
        latency = GaugeMetricFamily(
            "btcpulse_pipeline_latency_seconds",
            "Last batch: median time from a message's event time to its results being stored",
            labels=["engine"],
        )
        if st.get("latency_s") is not None:
            latency.add_metric([name], _num(st["latency_s"]))
        yield latency


class WebMetrics:
    def __init__(self, store: Store, hub: Hub) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(PipelineCollector(store, hub))

"""Prometheus metrics: the web process's own counters plus pipeline gauges read from the store."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from btcpulse.store import queries
from btcpulse.store.db import Store
from btcpulse.web.live import Hub


class PipelineCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.store.read() as conn:
            h = queries.health(conn)
            seq = queries.last_seq(conn)
        up = GaugeMetricFamily(
            "btcpulse_source_up", "1 if the source is up", labels=["source", "kind"]
        )
        items = GaugeMetricFamily(
            "btcpulse_source_items", "Items produced by the source", labels=["source", "kind"]
        )
        for s in h["sources"]:
            up.add_metric([s["name"], s["kind"]], 1.0 if s["status"] == "up" else 0.0)
            items.add_metric([s["name"], s["kind"]], float(s["items_total"]))
        yield up
        yield items
        yield GaugeMetricFamily(
            "btcpulse_engine_lag_messages",
            "Messages not yet processed",
            value=h["engine"]["lag"] or 0,
        )
        yield GaugeMetricFamily("btcpulse_errors", "Dead letters recorded", value=h["errors_total"])
        yield GaugeMetricFamily("btcpulse_updates_seq", "Last analytics update sequence", value=seq)


class HubCollector(Collector):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "btcpulse_ws_clients", "Connected WebSocket clients", value=len(self.hub.clients)
        )
        yield CounterMetricFamily(
            "btcpulse_ws_messages_sent", "Updates sent to WebSocket clients", value=self.hub.sent
        )


class WebMetrics:
    def __init__(self, store: Store, hub: Hub) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(HubCollector(hub))
        self.registry.register(PipelineCollector(store))

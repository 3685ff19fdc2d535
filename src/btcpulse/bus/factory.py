"""Open the bus the settings ask for: the embedded log or Kafka. Callers see one interface."""

from __future__ import annotations

from typing import Literal, Protocol

from btcpulse.bus.base import Consumer, Producer
from btcpulse.config import Settings


class Bus(Protocol):
    def producer(self) -> Producer: ...

    def consumer(
        self, group: str, auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    ) -> Consumer: ...


def open_bus(settings: Settings) -> Bus:
    if settings.mode == "distributed":
        from btcpulse.bus.kafka import KafkaBus

        return KafkaBus.from_settings(settings)  # with its TLS/SASL settings
    from btcpulse.bus.embedded import EmbeddedLog

    return EmbeddedLog(settings.resolved_bus_path)


def bus_topics(settings: Settings) -> dict[str, int]:
    """Every topic the product uses, with its partitions (updates: one, to keep its order)."""
    n = settings.kafka_partitions
    return {
        settings.topic_news: n,
        settings.topic_prices: n,
        settings.topic_deadletters: 1,
        settings.topic_updates: 1,
    }


def log_retention_ms(settings: Settings) -> int | None:
    """Kafka ``retention.ms`` for the topics (None: the broker's default)."""
    days = settings.retention_log_days
    return int(days * 86_400_000) if days > 0 else None

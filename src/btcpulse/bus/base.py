"""The bus interface every adapter implements (embedded log, Kafka).

Semantics follow Kafka's: topics split into partitions, each an append-only log of keyed,
timestamped messages with increasing offsets; consumers in a group share committed offsets
(the next offset to read); ``poll`` blocks up to a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TopicPartition:
    topic: str
    partition: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    """Event time of the message in epoch milliseconds (set by the producer)."""

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class Producer(Protocol):
    def produce(
        self, topic: str, value: bytes, *, key: bytes | None = None, timestamp_ms: int | None = None
    ) -> None:
        """Queue a message; it is durable once :meth:`flush` returns."""

    def flush(self, timeout: float = 10.0) -> int:
        """Write every queued message; return how many are still queued (0 = all written)."""

    def close(self) -> None: ...


class Consumer(Protocol):
    group: str

    def subscribe(self, topics: list[str]) -> None:
        """Read these topics from the group's committed offsets (or the start/end per reset)."""

    def poll(self, timeout: float, max_messages: int = 1000) -> list[Message]:
        """Block up to ``timeout`` seconds for messages; return what arrived (maybe none)."""

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Next :meth:`poll` reads ``tp`` from ``offset``."""

    def position(self, tp: TopicPartition) -> int:
        """The next offset this consumer will read from ``tp``."""

    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        """Store ``offsets`` (default: current positions) as the group's committed offsets."""

    def committed(self, tp: TopicPartition) -> int | None: ...

    def end_offset(self, tp: TopicPartition) -> int:
        """The offset the next produced message on ``tp`` will get (the high watermark)."""

    def assignment(self) -> list[TopicPartition]: ...

    def close(self) -> None: ...

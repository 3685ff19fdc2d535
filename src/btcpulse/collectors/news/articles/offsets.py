"""Commit a consumer group's offsets only past messages whose work is finished.

Pages are fetched concurrently and finish in any order; the committed offset of a partition is
the first message still in flight (or the read position when none is). A restart therefore
re-reads every message whose article was neither produced nor recorded as failed: nothing is
lost, and a page fetched twice is harmless (the engine merges copies by article id).
"""

from __future__ import annotations

from btcpulse.bus.base import Consumer, TopicPartition


class OffsetTracker:
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self._pending: dict[TopicPartition, set[int]] = {}
        self._committed: dict[TopicPartition, int] = {}

    @property
    def in_flight(self) -> int:
        return sum(len(p) for p in self._pending.values())

    def start(self, tp: TopicPartition, offset: int) -> None:
        self._pending.setdefault(tp, set()).add(offset)

    def done(self, tp: TopicPartition, offset: int) -> None:
        self._pending.get(tp, set()).discard(offset)

    def safe_offsets(self) -> dict[TopicPartition, int]:
        """Per partition, the offset up to which every message is finished."""
        out = {}
        for tp in self.consumer.assignment():
            pending = self._pending.get(tp)
            out[tp] = min(pending) if pending else self.consumer.position(tp)
        return out

    def commit(self) -> None:
        """Commit the safe offsets that moved since the last commit."""
        moved = {
            tp: off for tp, off in self.safe_offsets().items() if self._committed.get(tp) != off
        }
        if moved:
            self.consumer.commit(moved)
            self._committed.update(moved)

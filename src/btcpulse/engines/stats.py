"""What an engine reports about itself after each batch: counts, durations, latency.

Both engines keep one ``EngineStats`` and store ``state()`` under the ``engine`` state key;
the web app's ``/metrics`` turns it into Prometheus series.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from btcpulse.bus.base import Message


@dataclass
class EngineStats:
    engine: str = "embedded"
    batches: int = 0
    messages: int = 0  # events in: messages consumed from the bus
    updates: int = 0  # events out: analytics updates published
    dead_letters: int = 0
    batch_seconds: float = 0.0  # sum over batches
    last_batch_s: float = 0.0
    latency_s: float | None = None  # last batch: median of (stored - message time)

    def record(
        self,
        msgs: Sequence[Message],
        *,
        updates: int,
        dead_letters: int,
        seconds: float,
        now_ms: int,
    ) -> None:
        self.batches += 1
        self.messages += len(msgs)
        self.updates += updates
        self.dead_letters += dead_letters
        self.batch_seconds += seconds
        self.last_batch_s = seconds
        if msgs:
            self.latency_s = statistics.median(now_ms - m.timestamp_ms for m in msgs) / 1000

    def state(self, lag: int | None) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "lag": lag,
            "batches": self.batches,
            "messages": self.messages,
            "updates": self.updates,
            "dead_letters": self.dead_letters,
            "batch_seconds": round(self.batch_seconds, 6),
            "last_batch_s": round(self.last_batch_s, 6),
            "latency_s": None if self.latency_s is None else round(self.latency_s, 6),
        }

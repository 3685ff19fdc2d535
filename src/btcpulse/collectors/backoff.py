"""Jittered exponential backoff for reconnects and failed polls."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    base_s: float = 1.0
    cap_s: float = 300.0
    attempts: int = 0

    def next_delay(self) -> float:
        """Full jitter: uniform in [base/2, min(cap, base·2^n)]."""
        ceiling = min(self.cap_s, self.base_s * (2**self.attempts))
        self.attempts += 1
        return random.uniform(min(self.base_s / 2, ceiling), ceiling)

    def reset(self) -> None:
        self.attempts = 0

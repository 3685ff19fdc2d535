"""Alert rules written as short strings (settings, CLI) and parsed into rule objects.

index>75        the sentiment index crosses 75 upwards
index<25        the sentiment index crosses 25 downwards
burst>=3        a topic or title term reaches a z-score of 3
move>=2%/60m    the price moves 2 % or more within 60 minutes
"""

from __future__ import annotations

import re

from btcpulse.analytics.alerts import Burst, IndexCross, PriceMove, Rule

DEFAULT_RULE_SPECS = ("index>75", "index<25", "burst>=3", "move>=2%/60m")

_INDEX = re.compile(r"^index\s*([<>])\s*(\d+(?:\.\d+)?)$")
_BURST = re.compile(r"^burst\s*>=\s*(\d+(?:\.\d+)?)$")
_MOVE = re.compile(r"^move\s*>=\s*(\d+(?:\.\d+)?)\s*%\s*/\s*(\d+)\s*m$")


def parse_rule(spec: str) -> Rule:
    """One rule from its text; a clear ``ValueError`` for anything else."""
    text = spec.strip().lower()
    if m := _INDEX.match(text):
        level = float(m.group(2))
        if not 0 <= level <= 100:
            raise ValueError(f"alert rule {spec!r}: the index runs from 0 to 100")
        return IndexCross(level, "up" if m.group(1) == ">" else "down")
    if m := _BURST.match(text):
        return Burst(float(m.group(1)))
    if m := _MOVE.match(text):
        pct, minutes = float(m.group(1)), int(m.group(2))
        if pct <= 0 or minutes <= 0:
            raise ValueError(f"alert rule {spec!r}: the move and the minutes must be positive")
        return PriceMove(pct, minutes)
    raise ValueError(
        f"alert rule {spec!r} not understood; use e.g. 'index>75', 'index<25', 'burst>=3' "
        "or 'move>=2%/60m'"
    )


def parse_rules(specs: list[str] | tuple[str, ...]) -> tuple[Rule, ...]:
    return tuple(parse_rule(s) for s in specs)

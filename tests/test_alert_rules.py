"""Alert rules from settings strings: parsed, refused with a clear reason, used by the engine."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from btcpulse.analytics.alert_rules import DEFAULT_RULE_SPECS, parse_rule, parse_rules
from btcpulse.analytics.alerts import Burst, IndexCross, PriceMove
from btcpulse.config import Settings


def test_rules_parse() -> None:
    assert parse_rules(DEFAULT_RULE_SPECS) == (
        IndexCross(75.0, "up"),
        IndexCross(25.0, "down"),
        Burst(3.0),
        PriceMove(2.0, 60),
    )
    assert parse_rule(" Move >= 0.5 % / 5m ") == PriceMove(0.5, 5)


@pytest.mark.parametrize("bad", ["index>150", "burst>3", "move>=2%", "move>=0%/5m", "nonsense"])
def test_bad_rules_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(ValueError, match="alert rule"):
        parse_rule(bad)


def test_settings_refuse_bad_rules_at_start() -> None:
    with pytest.raises(ValidationError, match="not understood"):
        Settings(alert_rules=["index>>3"], _env_file=None)  # type: ignore[call-arg]
    assert Settings(_env_file=None).alert_rules == list(DEFAULT_RULE_SPECS)  # type: ignore[call-arg]

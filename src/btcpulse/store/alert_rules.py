"""Alert rules edited at run time: kept in the store, read by the engine at every batch.

Until someone saves rules (``PUT /api/v1/alerts/rules`` with the admin token), the engine uses
the rules from the settings (``BTCPULSE_ALERT_RULES``). Both engines read them here, so the
embedded loop and the Spark job fire the same alerts.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from btcpulse.analytics.alert_rules import parse_rules
from btcpulse.analytics.alerts import Rule
from btcpulse.store import schema as t
from btcpulse.store.writes import put_state

RULES_STATE = "alert_rules"


def stored_rules(conn: Connection) -> tuple[list[str], datetime] | None:
    """The rules saved through the API and when, or None if none were ever saved."""
    c = t.collector_state.c
    row = conn.execute(select(c.state, c.updated_at).where(c.name == RULES_STATE)).first()
    if row is None:
        return None
    state: dict[str, Any] = json.loads(row.state)
    return [str(s) for s in state.get("rules", [])], row.updated_at


def save_rules(conn: Connection, specs: list[str]) -> tuple[Rule, ...]:
    """Validate then store (a ``ValueError`` naming the bad rule leaves the store unchanged)."""
    rules = parse_rules(specs)
    put_state(conn, RULES_STATE, {"rules": [s.strip() for s in specs]})
    return rules


def active_rules(conn: Connection, defaults: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """The stored rules if any were saved, else ``defaults`` (the settings' rules)."""
    found = stored_rules(conn)
    if found is None:
        return defaults
    try:
        return parse_rules(found[0])
    except ValueError:  # only valid rules are saved; a hand-edited row falls back to defaults
        return defaults

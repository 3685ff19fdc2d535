"""Fuzzing the REST API from its own OpenAPI schema (issue 10), with schemathesis, in process.

The app runs over a store the real engine filled from the real replay bundle (as in
``test_api.py``). Every operation gets generated inputs, valid ones (positive) and invalid ones
(negative), the admin token on the write so that its body is fuzzed too. Checks: no 5xx, the
status code is one the schema documents, and the body conforms to the documented schema and
content type; invalid inputs are rejected (4xx).

``BTCPULSE_FUZZ_REQUESTS`` is the number of inputs (default 1000, under a minute here; the issue's
run is ``BTCPULSE_FUZZ_REQUESTS=10000``). The summary — inputs, status histogram, rejected
inputs by reason, failures — goes to ``tests/artifacts/fuzz_openapi.json`` and is printed.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from conftest import REPLAY, drain_engine, free_port
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks as st_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.collectors.replay.player import ReplayPlayer
from btcpulse.config import Settings
from btcpulse.store.db import Store
from btcpulse.web.app import create_app

REQUESTS = int(os.environ.get("BTCPULSE_FUZZ_REQUESTS", "1000"))
ARTIFACT = Path(__file__).with_name("artifacts") / "fuzz_openapi.json"
TOKEN = "fuzz-admin-token"
# Not "positive_data_acceptance": rules across parameters ('from' before 'to', a venue for
# candle exports, a resolution that is stored, an alert rule's grammar) cannot be said in
# OpenAPI, so schema-valid inputs are refused with a 422 and their reason: the summary lists
# every refusal by reason.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
]


@pytest.fixture(scope="module")
def fuzz_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings over a store filled by the engine from the replay bundle (rate limits off: the
    fuzzer is one client sending thousands of requests)."""
    tmp = tmp_path_factory.mktemp("fuzz-openapi")
    s = Settings(
        data_dir=tmp / "var",
        port=free_port(),
        live_sources=False,
        replay_path=REPLAY,
        admin_token=TOKEN,
        api_rate_per_s=0,
        _env_file=None,
    )
    store = Store(s.resolved_store_url)
    store.migrate()
    bus = EmbeddedLog(s.resolved_bus_path)
    player = ReplayPlayer(load_bundle(REPLAY), s, bus.producer(), store, speed=60)
    while player.emit_due():
        pass
    drain_engine(s, store, bus)
    store.dispose()
    yield s


_QUOTED = re.compile(r"'([^']*)'")
_NAME = re.compile(r"from|to|venue|symbol|since|limit|resolution_s|kind|format")


def _reason(status: int, body: bytes) -> str:
    """Why an input was refused: FastAPI's validation errors by location and type, or our own
    ``detail`` message with the quoted input values elided (parameter names kept), so that
    reasons group."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return f"{status} (no JSON detail)"
    if isinstance(detail, list):
        parts = sorted(
            {f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('type')}" for e in detail}
        )
        return f"{status} " + "; ".join(parts)
    text = _QUOTED.sub(lambda m: m[0] if _NAME.fullmatch(m[1]) else "'…'", str(detail))
    return f"{status} {text[:120]}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and not isinstance(exc, FailureGroup):
        return " | ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def _run_operation(op: Any, mode: GenerationMode, budget: int, tally: dict[str, Any]) -> int:
    """Up to ``budget`` generated inputs for one operation and mode; returns how many ran."""
    ran = 0
    checks = [getattr(st_checks, name) for name in CHECKS]
    headers = {"Authorization": f"Bearer {TOKEN}"} if op.method.upper() != "GET" else None

    @settings(
        max_examples=budget,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal ran
        ran += 1
        try:
            response = case.call(headers=headers)
        except Exception:  # the app raised: a 500 for a client (and a failure here)
            tally["status"]["500"] += 1
            raise
        status = response.status_code
        tally["status"][str(status)] += 1
        tally["by_operation"][f"{op.label} {mode.value}"][str(status)] += 1
        if 400 <= status < 500:
            tally["rejected"][_reason(status, response.content)] += 1
        case.validate_response(response, checks=checks)

    try:
        run()
    except Unsatisfiable:  # nothing to negate (an operation without parameters)
        tally["skipped"].append(f"{op.label} {mode.value}: no such input exists")
    except (Exception, FailureGroup) as exc:  # recorded; the test fails after the summary
        tally["failures"].append(f"{op.label} {mode.value}: {_describe(exc)}"[:3000])
    return ran


@pytest.mark.timeout(max(300, REQUESTS // 3))  # ~0.05 s an input here; room for a busy CI
def test_openapi_fuzz_no_server_error_and_conforming(fuzz_settings: Settings) -> None:
    from schemathesis.python.asgi import shutdown_lifespans

    app = create_app(fuzz_settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    results = list(schema.get_all_operations())
    ops = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(ops) == len(results), [r for r in results if not isinstance(r, Ok)]
    assert len(ops) >= 15, [o.label for o in ops]
    tally: dict[str, Any] = {
        "status": Counter(),
        "by_operation": {},
        "rejected": Counter(),
        "failures": [],
        "skipped": [],
    }
    plan = [(op, mode) for op in ops for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    for op, mode in plan:
        tally["by_operation"][f"{op.label} {mode.value}"] = Counter()
    started = time.monotonic()
    total = 0
    try:
        # Rounds: an operation with few possible inputs (no parameters) runs out early; what it
        # leaves goes to the others in the next round, until the number asked for has run.
        open_ = list(plan)
        while total < REQUESTS and open_:
            budget = max(1, (REQUESTS - total) // len(open_))
            still = []
            for op, mode in open_:
                ran = _run_operation(op, mode, min(budget, REQUESTS - total), tally)
                total += ran
                if ran >= budget // 2 and ran > 1:  # not exhausted: may get more next round
                    still.append((op, mode))
                if total >= REQUESTS:
                    break
            open_ = still
    finally:
        shutdown_lifespans()
        summary = {
            "inputs": total,
            "asked": REQUESTS,
            "operations": len(ops),
            "seconds": round(time.monotonic() - started, 1),
            "status": dict(sorted(tally["status"].items())),
            "server_errors": sum(n for s, n in tally["status"].items() if s.startswith("5")),
            "rejected_by_reason": dict(tally["rejected"].most_common()),
            "failures": tally["failures"],
            "skipped": tally["skipped"],
            "by_operation": {k: dict(v) for k, v in tally["by_operation"].items()},
        }
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        ARTIFACT.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        print(json.dumps({k: v for k, v in summary.items() if k != "by_operation"}, indent=2))
    assert summary["failures"] == [], "\n\n".join(summary["failures"])
    assert summary["server_errors"] == 0
    assert total >= REQUESTS * 0.9, f"only {total} inputs generated of {REQUESTS}"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/updates?since=99999999999999999999",  # was a 500 (SQLite int overflow)
        "/api/v1/index?to=0001-01-01T00:00:00%2B01:00",  # was a 500 (to - 1 day overflows)
        "/api/v1/bursts?to=0001-01-01T00:00:00Z",
        "/api/v1/volatility?venue=x&to=0001-01-01T00:00:00Z",
        "/api/v1/candles?venue=x&to=0001-01-01T00:00:00Z",
        "/api/v1/export/news?to=9999-12-31T23:00:00Z",
        "/api/v1/index?from=1700000000",  # was a 200: a number read as Unix seconds
        "/api/v1/candles?venue=x&from=2.0",
        "/api/v1/export/candles?venue=%C4%81%22x",  # was a 500: "ā" in a Latin-1 header
    ],
)
def test_inputs_the_fuzzer_broke_are_answered(fuzz_settings: Settings, path: str) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(fuzz_settings), raise_server_exceptions=False) as client:
        r = client.get(path)
    if "%C4%81" in path:  # a venue nobody has: an empty file, with a plain file name
        assert r.status_code == 200, r.text[:300]
        assert r.headers["content-disposition"].startswith('attachment; filename="btcpulse-')
        assert r.headers["content-disposition"].count('"') == 2
        return
    assert r.status_code == 422, (path, r.status_code, r.text[:300])
    detail = r.json()["detail"]
    assert detail and (isinstance(detail, str) or all("msg" in e for e in detail))

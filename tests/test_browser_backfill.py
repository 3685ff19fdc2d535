"""History on day one, in a real browser: ``btcpulse backfill`` against a local server speaking
Coinbase Exchange candles (3 days of real 1-minute bars, shifted to end now), then
``btcpulse up --no-live`` on the same data folder, then Chromium shows the 30-day view."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, child_env, wait_for
from harness import Running
from test_browser import ARTIFACTS, CHART, CHROMIUM, CHROMIUM_ARGS, STATIC_INDEX, _ws_clients

from btcpulse.config import Settings
from btcpulse.testing.fake_candles import FakeCandles, load_minutes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")

MINUTES = load_minutes(FIXTURES / "market" / "binanceus_BTCUSD_1m_2023-03-10_12.csv")
LOAD_MS = 60_000


@pytest.fixture
def backfilled(settings: Settings, tmp_path: Path) -> Iterator[tuple[Running, FakeCandles]]:
    if not STATIC_INDEX.exists():
        pytest.fail("the dashboard is not built (src/btcpulse/web/static/index.html is missing)")
    with FakeCandles("coinbase", MINUTES) as fake:  # the recorded bars, ending this minute
        t0 = time.perf_counter()
        args = ["backfill", "--url", fake.url, "--days", "3", "--daily-years", "1"]
        res = subprocess.run(
            [sys.executable, "-m", "btcpulse", *args],
            env=child_env(settings, BTCPULSE_BACKFILL_MIN_INTERVAL_S="0"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        print(f"backfill: {time.perf_counter() - t0:.1f}s {res.stdout.strip()}")
        assert res.returncode == 0, res.stderr
        assert "4,320 1m bars" in res.stdout
    running = Running(settings, tmp_path / "up.log")
    try:
        running.wait_ready()
        yield running, fake
    finally:
        code = running.stop()
        print(f"--- btcpulse up exited with {code}; log tail:\n{running.log()}")


@pytest.fixture
def page(backfilled: tuple[Running, FakeCandles]) -> Iterator[Any]:
    service, _ = backfilled
    if not CHROMIUM.exists():
        reason = f"Debian Chromium is not installed ({CHROMIUM} is missing)"
        if os.environ.get("BTCPULSE_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            ctx = b.new_context(
                viewport={"width": 1400, "height": 900}, locale="en-GB", timezone_id="UTC"
            )
            ctx.set_default_timeout(15_000)
            yield ctx.new_page()
            ctx.close()
        finally:
            b.close()
    wait_for(lambda: _ws_clients(service) == 0, 10, "the server to drop the browser's sockets")


def test_the_30d_view_is_drawn_right_after_a_backfill(
    backfilled: tuple[Running, FakeCandles], page: Any
) -> None:
    service, fake = backfilled
    first = fake.bars[60][0].open_s
    last = fake.bars[60][-1].open_s

    def iso(ts: int) -> str:  # the API takes ISO 8601 times, not epoch numbers
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def stored() -> bool:  # the engine has rolled the backfilled bars up to hours
        hours = service.get(
            "/api/v1/candles?venue=coinbase&symbol=BTC-USD"
            f"&from={iso(first - 86400)}&to={iso(last + 60)}"
        )["candles"]
        return bool(hours) and hours[0]["t"] <= first and hours[-1]["t"] >= last - 3600

    wait_for(stored, LOAD_MS / 1000, "the backfilled bars to be stored")
    names = {s["name"] for s in service.get("/api/v1/health")["sources"]}
    assert "process:backfill" not in names  # `up --no-live` never reaches for a venue

    page.goto(service.base + "/?range=30d&venue=coinbase&symbol=BTC-USD")
    page.wait_for_function(
        "sel => Number(document.querySelector(sel)?.dataset.candles || 0) > 0",
        arg=CHART,
        timeout=LOAD_MS,
    )
    sync_api.expect(page.locator("[data-testid=range-30d]")).to_have_attribute(
        "aria-pressed", "true"
    )
    state: dict[str, str] = page.eval_on_selector(CHART, "el => ({...el.dataset})")
    print("chart:", state)
    resolution = int(state["resolution"])
    candles = int(state["candles"])
    assert resolution == 3600  # 30 days within ~2,000 points: hourly candles
    # the 3 backfilled days (starting mid-day) at hourly resolution, nothing else on coinbase
    assert 71 <= candles <= 74
    assert int(state["firstTime"]) <= first < int(state["firstTime"]) + resolution
    assert int(state["lastTime"]) >= last - resolution
    assert page.locator("[data-testid=venue-select]").input_value().startswith("coinbase")
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)  # let the chart paint
    page.screenshot(path=str(ARTIFACTS / "dashboard-backfill-30d.png"), full_page=False)

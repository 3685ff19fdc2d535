"""Real browser, real service: the dashboard against ``btcpulse up --no-live`` (offline replay).

Chromium (Debian's ``/usr/bin/chromium``) drives the built bundle served by the web process;
the engine and the replay player run for real. Every wait is a Playwright wait with a timeout.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from harness import Running

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.config import Settings
from btcpulse.events import NewsItem, encode

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).with_name("artifacts")
STATIC_INDEX = (
    Path(__file__).resolve().parents[1] / "src" / "btcpulse" / "web" / "static" / "index.html"
)

LOAD_MS = 45_000  # first paint: history replayed into the store, then loaded by the page
NEWS_MS = 30_000  # collector -> bus -> engine -> store -> updates topic -> WebSocket
LIVE_MS = 60_000  # the replay emits a 1-minute bar each second at speed 60
UI_MS = 15_000

XSS_TITLE = '<img src=x onerror="window.__xss=1">Bitcoin rallies'
SCRIPT_TITLE = "<script>window.__xss2=1</script>Bitcoin dips"

CHART = "[data-testid=price-chart]"
NEWS_ITEMS = "[data-testid=news-list] [data-testid=news-item]"


def _chromium_or_skip() -> str:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip(f"Chromium is not installed ({CHROMIUM} missing); the browser test needs it")
    return str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))


@pytest.fixture
def service(settings: Settings, tmp_path: Path) -> Iterator[Running]:
    if not STATIC_INDEX.exists():
        pytest.fail("the dashboard is not built (src/btcpulse/web/static/index.html missing)")
    running = Running(settings, tmp_path / "up.log")
    try:
        running.wait_ready()
        yield running
    finally:
        code = running.stop()
        # shown by pytest only when the test fails
        print(f"--- btcpulse up exited with {code}; log tail:\n{running.log()}")


@pytest.fixture
def page(service: Running) -> Iterator[Any]:
    executable = _chromium_or_skip()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(
                viewport={"width": 1400, "height": 900},
                locale="en-GB",
                timezone_id="UTC",
            )
            pg = context.new_page()
            pg.set_default_timeout(UI_MS)
            yield pg
        finally:
            browser.close()


def _produce_news(settings: Settings, item: NewsItem) -> None:
    """Exactly what a collector does."""
    p = EmbeddedLog(settings.resolved_bus_path).producer()
    p.produce(settings.topic_news, encode(item), key=item.id.encode())
    p.flush()
    p.close()


def _news_ids(page: Any) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(NEWS_ITEMS, "els => els.map(e => e.dataset.id)")
    return ids


def _chart_state(page: Any) -> dict[str, str]:
    state: dict[str, str] = page.eval_on_selector(
        CHART,
        "el => ({candles: el.dataset.candles, last: el.dataset.lastTime,"
        " resolution: el.dataset.resolution})",
    )
    return state


def test_dashboard_end_to_end(page: Any, service: Running, settings: Settings) -> None:
    expect = sync_api.expect
    page_errors: list[str] = []
    ws_frames: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived",
            lambda payload: ws_frames.append(payload if isinstance(payload, str) else ""),
        ),
    )

    # 1. first load: candles drawn, REPLAY badge shown, live feed connected
    page.goto(service.base + "/", wait_until="domcontentloaded")
    page.wait_for_function(
        "sel => Number(document.querySelector(sel)?.dataset.candles || 0) > 0",
        arg=CHART,
        timeout=LOAD_MS,
    )
    expect(page.locator("[data-testid=replay-badge]")).to_be_visible(timeout=UI_MS)
    expect(page.locator("[data-testid=ws-status][data-state=open]")).to_have_count(1, timeout=UI_MS)
    expect(page.locator("[data-testid=chart-message]")).to_be_hidden()
    before = _chart_state(page)
    ids_before = set(_news_ids(page))

    # 2. a brand-new headline arrives over the WebSocket and stays inert text
    now = datetime.now(UTC)
    items = [
        NewsItem(
            id=f"test-xss-{uuid.uuid4().hex}",
            source="test",
            url="https://example.test/xss",
            title=XSS_TITLE,
            summary='<b onmouseover="window.__xss=1">summary</b> stays text',
            published_at=now,
            fetched_at=now,
        ),
        NewsItem(
            id=f"test-script-{uuid.uuid4().hex}",
            source="test",
            url="javascript:window.__xss3=1",
            title=SCRIPT_TITLE,
            summary="",
            published_at=now,
            fetched_at=now,
        ),
    ]
    for item in items:
        _produce_news(settings, item)
    for item in items:
        expect(page.locator(f'{NEWS_ITEMS}[data-id="{item.id}"]')).to_have_count(1, timeout=NEWS_MS)
    new_ids = set(_news_ids(page)) - ids_before
    assert {i.id for i in items} <= new_ids
    frames = [json.loads(f) for f in ws_frames if f]
    pushed = {f["data"]["id"] for f in frames if f.get("kind") == "news"}
    assert {i.id for i in items} <= pushed, "the new headlines did not come over the WebSocket"

    xss = page.locator(f'{NEWS_ITEMS}[data-id="{items[0].id}"]')
    assert "<img src=x onerror=" in xss.inner_text()
    assert xss.locator(".news-title").inner_text() == XSS_TITLE
    assert xss.locator(".news-title").get_attribute("href") == "https://example.test/xss"
    scripted = page.locator(f'{NEWS_ITEMS}[data-id="{items[1].id}"]')
    assert scripted.locator(".news-title").inner_text() == SCRIPT_TITLE
    assert scripted.locator("a").count() == 0, "a javascript: URL must not become a link"
    assert page.locator("[data-testid=news-list] img").count() == 0
    assert page.locator("[data-testid=news-list] script").count() == 0
    assert page.locator("[data-testid=news-list] b").count() == 0
    assert page.evaluate("[typeof window.__xss, typeof window.__xss2, typeof window.__xss3]") == [
        "undefined",
        "undefined",
        "undefined",
    ]

    # 3. the chart moves live (a new or updated bar)
    page.wait_for_function(
        """([sel, candles, last]) => {
            const ds = document.querySelector(sel).dataset;
            return ds.candles !== candles || ds.lastTime !== last;
        }""",
        arg=[CHART, before["candles"], before["last"]],
        timeout=LIVE_MS,
    )

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # 4. French, then the range buttons (24h is the default: go through "All" and back)
    page.select_option("[data-testid=lang-select]", "fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("[data-testid=replay-badge]")).to_contain_text("historique enregistré")
    expect(page.locator(".news-panel h2")).to_have_text("Actualités")
    expect(page.locator("[data-testid=range-all]")).to_have_text("Tout")
    assert "lang=fr" in page.url

    page.click("[data-testid=range-all]")
    expect(page.locator("[data-testid=range-all]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("[data-testid=range-24h]")).to_have_attribute("aria-pressed", "false")
    page.wait_for_function(
        "sel => document.querySelector(sel).dataset.resolution !== '1m'", arg=CHART
    )
    all_state = _chart_state(page)
    assert 0 < int(all_state["candles"]) <= 2100

    page.click("[data-testid=range-24h]")
    expect(page.locator("[data-testid=range-24h]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("[data-testid=range-all]")).to_have_attribute("aria-pressed", "false")
    page.wait_for_function(
        "sel => document.querySelector(sel).dataset.resolution === '1m'", arg=CHART
    )
    expect(page.locator("[data-testid=chart-message]")).to_be_hidden()
    day = _chart_state(page)
    assert 0 < int(day["candles"]) <= 2100
    assert "range=24h" in page.url

    page.screenshot(path=str(ARTIFACTS / "dashboard-fr.png"), full_page=True)

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert not page_errors, f"uncaught errors in the page: {page_errors}"

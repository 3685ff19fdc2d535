"""Real browser, real service: the dashboard against ``btcpulse up --no-live`` (offline replay).

Chromium (Debian's ``/usr/bin/chromium``) drives the built bundle served by the web process;
the engine and the replay player run for real. Every wait is a Playwright wait with a timeout.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import REPLAY, free_port, wait_for
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
UPDATE_MS = 15_000  # the replay emits a bar every second at speed 60
# A new 1m candle (data-candles / data-last-time) only appears when the wall-clock minute
# turns: the replay's bars are 1 s apart, so each 1m candle is updated in place ~60 times.
# Up to ~62 s after the page loaded, whatever the second it loaded at.
ROLLOVER_MS = 75_000
UI_MS = 15_000

XSS_TITLE = '<img src=x onerror="window.__xss=1">Bitcoin rallies'
SCRIPT_TITLE = "<script>window.__xss2=1</script>Bitcoin dips"

TOPIC_IDS = {
    "regulation",
    "etf_institutional",
    "adoption_payments",
    "security_hacks",
    "mining_energy",
    "macro_monetary",
    "technology",
    "market_price",
    "exchanges",
    "legal",
}

CHART = "[data-testid=price-chart]"
NEWS_ITEMS = "[data-testid=news-list] [data-testid=news-item]"
ADMIN_TOKEN = "browser-test-admin-token"


def make_settings(root: Path) -> Settings:
    """Settings of a service shared by a module's tests (the ``settings`` fixture is per test)."""
    return Settings(
        data_dir=root / "var",
        port=free_port(),
        live_sources=False,
        replay_path=REPLAY,
        admin_token=ADMIN_TOKEN,
        _env_file=None,  # type: ignore[call-arg]
    )


def run_service(settings: Settings, log: Path) -> Iterator[Running]:
    """``btcpulse up --no-live`` with the admin token set (as an operator would: the env)."""
    if not STATIC_INDEX.exists():
        pytest.fail("the dashboard is not built (src/btcpulse/web/static/index.html is missing)")
    running = Running(settings, log, BTCPULSE_ADMIN_TOKEN=ADMIN_TOKEN)
    try:
        running.wait_ready()
        yield running
    finally:
        code = running.stop()
        print(f"--- btcpulse up exited with {code}; log tail:\n{running.log()}")  # on failure


def launch_browser(service: Running) -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"Debian Chromium is not installed ({CHROMIUM} is missing)"
        if os.environ.get("BTCPULSE_REQUIRE_BROWSER"):  # CI installs it: never skip there
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
    # The web process only notices a gone WebSocket client when it next sends to it; a client
    # still registered at SIGTERM holds the web child until the supervisor kills it (10 s).
    # Updates flow every second, so waiting here keeps the teardown short.
    wait_for(lambda: _ws_clients(service) == 0, 10, "the server to drop the browser's sockets")


def new_context(browser: Any, **kw: Any) -> Any:
    ctx = browser.new_context(
        viewport={"width": 1400, "height": 900}, locale="en-GB", timezone_id="UTC", **kw
    )
    ctx.set_default_timeout(UI_MS)
    return ctx


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def service(module_settings: Settings) -> Iterator[Running]:
    yield from run_service(module_settings, module_settings.data_dir.parent / "up.log")


def _ws_clients(service: Running) -> float:
    with urllib.request.urlopen(service.base + "/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^btcpulse_ws_clients (\S+)$", text, re.M)
    return float(m.group(1)) if m else -1.0


@pytest.fixture(scope="module")
def browser(service: Running) -> Iterator[Any]:
    yield from launch_browser(service)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = new_context(browser)
    try:
        yield ctx
    finally:
        ctx.close()


def _produce_news(settings: Settings, item: NewsItem) -> None:
    """Exactly what a collector does."""
    p = EmbeddedLog(settings.resolved_bus_path).producer()
    p.produce(settings.topic_news, encode(item), key=item.id.encode())
    p.flush()
    p.close()


def _news(title: str, url: str, summary: str = "") -> NewsItem:
    now = datetime.now(UTC)
    return NewsItem(
        id=f"test-{uuid.uuid4().hex}",
        source="test",
        url=url,
        title=title,
        summary=summary,
        published_at=now,
        fetched_at=now,
    )


def _committed_news(service: Running, settings: Settings, title: str) -> NewsItem:
    """Produce a headline and wait until the store has it (so its update seq is assigned)."""
    item = _news(title, "https://example.test/" + title.lower().replace(" ", "-"))
    _produce_news(settings, item)
    wait_for(
        lambda: item.id in {i["id"] for i in service.get("/api/v1/news?limit=20")["items"]},
        NEWS_MS / 1000,
        f"{title!r} to be stored",
    )
    return item


def _reconnect_held(page: Any, held: list[Any], meanwhile: Any) -> NewsItem:
    """Drop the page's socket; its reconnection is held (unconnected) while ``meanwhile`` runs."""
    n = len(held)
    held[-1].close()
    sync_api.expect(page.locator("[data-testid=ws-status][data-state=closed]")).to_have_count(1)
    sync_api.expect(page.locator("[data-testid=ws-status][data-state=open]")).to_have_count(1)
    assert len(held) == n + 1
    item: NewsItem = meanwhile()
    assert item.id not in _news_ids(page)
    return item


def _news_ids(page: Any) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(NEWS_ITEMS, "els => els.map(e => e.dataset.id)")
    return ids


def _chart(page: Any) -> dict[str, str]:
    state: dict[str, str] = page.eval_on_selector(CHART, "el => ({...el.dataset})")
    return state


def _wait_loaded(page: Any) -> None:
    page.wait_for_function(
        "sel => Number(document.querySelector(sel)?.dataset.candles || 0) > 0",
        arg=CHART,
        timeout=LOAD_MS,
    )
    sync_api.expect(page.locator("[data-testid=ws-status][data-state=open]")).to_have_count(1)


def _check_analytics(page: Any, tagged_id: str) -> None:
    """The analytics panels (the replay world: the default venue is a replay one)."""
    expect = sync_api.expect
    api_calls: list[str] = []
    page.on("request", lambda r: api_calls.append(r.url) if "/api/v1/" in r.url else None)

    # sentiment index (Overview): a 0-100 value, four components, headlines as inert text
    index = page.locator("[data-testid=sentiment-index]")
    expect(index).to_be_visible()
    expect(index).to_have_attribute("data-value", re.compile(r"^\d+(\.\d)?$"), timeout=NEWS_MS)
    assert 0 <= float(index.get_attribute("data-value") or "nan") <= 100
    expect(index.locator("[data-testid=index-component]")).to_have_count(4)
    for c in index.locator("[data-testid=index-component]").all():
        assert 0 <= float(c.get_attribute("data-value") or "nan") <= 100
    assert index.locator("img, script, b").count() == 0

    page.click("[data-testid=nav-news]")
    expect(page.locator("[data-testid=news-panel]")).to_be_visible()
    # news items: topic chips are known topics, a story badge only for 2+ outlets
    topics = page.eval_on_selector_all(
        f"{NEWS_ITEMS} [data-testid=topic-chip]", "els => els.map(e => e.dataset.topic)"
    )
    assert set(topics) <= TOPIC_IDS, topics
    for n in page.eval_on_selector_all(
        f"{NEWS_ITEMS} [data-testid=story-sources]", "els => els.map(e => e.dataset.sources)"
    ):
        assert int(n) > 1

    # topic filter: refetches /news?topic=, every row shown carries the topic, URL state
    expect(page.locator("[data-testid=topic-filter] option")).to_have_count(len(TOPIC_IDS) + 1)
    tagged = page.eval_on_selector_all(
        f'{NEWS_ITEMS}[data-id="{tagged_id}"] [data-testid=topic-chip]',
        "els => els.map(e => e.dataset.topic)",
    )
    topic = tagged[0] if tagged else "market_price"
    api_calls.clear()
    page.select_option("[data-testid=topic-filter]", topic)
    page.wait_for_function("t => new URL(location.href).searchParams.get('topic') === t", arg=topic)
    expect(page.locator(f"{NEWS_ITEMS}:not(:has([data-topic={topic}]))")).to_have_count(0)
    if tagged:
        expect(page.locator(f'{NEWS_ITEMS}[data-id="{tagged_id}"]')).to_have_count(1)
    assert any("/news?" in u and f"topic={topic}" in u for u in api_calls), api_calls
    page.select_option("[data-testid=topic-filter]", "")
    page.wait_for_function("() => !new URL(location.href).searchParams.has('topic')")
    expect(page.locator(f'{NEWS_ITEMS}[data-id="{tagged_id}"]')).to_have_count(1)

    # stories (beside the news): multi-source stories only
    expect(page.locator("[data-testid=stories-panel]")).to_be_visible()
    for n in page.eval_on_selector_all(
        "[data-testid=story-item]", "els => els.map(e => e.dataset.sources)"
    ):
        assert int(n) >= 2

    # alerts view: newest first
    page.click("[data-testid=nav-alerts]")
    expect(page.locator("[data-testid=alerts-panel]")).to_be_visible()
    expect(page.locator("[data-testid=news-panel]")).to_be_hidden()
    times = page.eval_on_selector_all(
        "[data-testid=alert-list] [data-testid=alert-item] time",
        "els => els.map(e => Date.parse(e.dateTime))",
    )
    assert times == sorted(times, reverse=True), times
    page.click("[data-testid=nav-news]")
    expect(page.locator("[data-testid=news-panel]")).to_be_visible()


def test_dashboard_end_to_end(context: Any, service: Running, module_settings: Settings) -> None:
    settings = module_settings
    expect = sync_api.expect
    page = context.new_page()
    page_errors: list[str] = []
    ws_frames: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived", lambda data: ws_frames.append(data if isinstance(data, str) else "")
        ),
    )

    # 1. first load: candles drawn, REPLAY badge shown, live feed connected
    page.goto(service.base + "/", wait_until="domcontentloaded")
    _wait_loaded(page)
    expect(page.locator("[data-testid=replay-badge]")).to_be_visible()
    expect(page.locator("[data-testid=chart-message]")).to_be_hidden()
    before = _chart(page)
    assert before["resolution"] == "60"  # default range 24h: 1-minute candles
    assert before["resolutionName"] == "1m"
    page.click("[data-testid=nav-news]")
    expect(page.locator("[data-testid=news-panel]")).to_be_visible()
    ids_before = set(_news_ids(page))

    # 2. brand-new headlines arrive over the WebSocket and stay inert text
    xss = _news(XSS_TITLE, "https://example.test/xss", '<b onmouseover="window.__xss=1">sum</b>')
    script = _news(SCRIPT_TITLE, "javascript:window.__xss3=1")
    for item in (xss, script):
        _produce_news(settings, item)
    for item in (xss, script):
        expect(page.locator(f'{NEWS_ITEMS}[data-id="{item.id}"]')).to_have_count(1, timeout=NEWS_MS)
    assert {xss.id, script.id} <= set(_news_ids(page)) - ids_before
    pushed = {
        f["data"]["id"] for f in map(json.loads, filter(None, ws_frames)) if f.get("kind") == "news"
    }
    assert {xss.id, script.id} <= pushed, "the new headlines did not come over the WebSocket"

    row = page.locator(f'{NEWS_ITEMS}[data-id="{xss.id}"]')
    assert "<img src=x onerror=" in row.inner_text()
    assert row.locator(".news-title").inner_text() == XSS_TITLE
    assert row.locator(".news-title").get_attribute("href") == "https://example.test/xss"
    row = page.locator(f'{NEWS_ITEMS}[data-id="{script.id}"]')
    assert row.locator(".news-title").inner_text() == SCRIPT_TITLE
    assert row.locator("a").count() == 0, "a javascript: URL must not become a link"
    for tag in ("img", "script", "b"):
        assert page.locator(f"[data-testid=news-list] {tag}").count() == 0, tag
    assert (
        page.evaluate("[typeof window.__xss, typeof window.__xss2, typeof window.__xss3]")
        == ["undefined"] * 3
    )

    # 3a. live candles are applied to the chart (in place, every second)
    page.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel).dataset.updates) > n",
        arg=[CHART, int(before["updates"])],
        timeout=UPDATE_MS,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.click("[data-testid=nav-overview]")
    expect(page.locator(CHART)).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # 6. analytics: sentiment index, topic filter, stories and the alerts view
    _check_analytics(page, xss.id)

    # 5. catch-up from the REST snapshot's seq: a headline committed after the page's REST
    # loads but before its WebSocket is connected must still appear (from /api/v1/updates).
    held: list[Any] = []
    api_calls: list[str] = []
    late = context.new_page()
    late.on("pageerror", lambda exc: page_errors.append(str(exc)))
    late.route_web_socket(re.compile(r"/ws$"), lambda ws: held.append(ws))  # held, unconnected
    late.on("request", lambda r: api_calls.append(r.url) if "/api/v1/" in r.url else None)
    late.goto(service.base + "/", wait_until="domcontentloaded")
    _wait_loaded(late)  # a routed socket counts as open; no hello yet, so no catch-up either
    assert len(held) == 1
    snapshot_seq = service.get("/api/v1/news?limit=1")["seq"]
    first = _committed_news(service, settings, "Caught up from the REST snapshot seq")
    assert first.id not in _news_ids(late)
    api_calls.clear()
    held[0].connect_to_server()  # hello (seq already past the headline), then live updates
    expect(late.locator(f'{NEWS_ITEMS}[data-id="{first.id}"]')).to_have_count(1, timeout=NEWS_MS)
    since = [int(re.search(r"since=(\d+)", u).group(1)) for u in api_calls if "/updates?" in u]
    assert since and since[0] <= snapshot_seq, f"no catch-up from the snapshot seq: {api_calls}"

    # reconnect: catch up from the last applied seq (no reload)
    second = _reconnect_held(late, held, lambda: _committed_news(service, settings, "Reconnected"))
    api_calls.clear()
    held[-1].connect_to_server()
    expect(late.locator(f'{NEWS_ITEMS}[data-id="{second.id}"]')).to_have_count(1, timeout=NEWS_MS)
    assert any("/updates?" in u for u in api_calls)
    assert not any("/news?" in u or "/candles?" in u for u in api_calls), api_calls

    # reconnect, but the server says the updates we need were pruned: reload, then go live
    third = _reconnect_held(late, held, lambda: _committed_news(service, settings, "Pruned"))
    late.route(
        re.compile(r"/api/v1/updates\?"),
        lambda route: route.fulfill(json={"updates": [], "first_seq": 10**12, "last_seq": 10**12}),
        times=1,
    )
    api_calls.clear()
    held[-1].connect_to_server()
    expect(late.locator(f'{NEWS_ITEMS}[data-id="{third.id}"]')).to_have_count(1, timeout=NEWS_MS)
    late.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel).dataset.updates) > n",
        arg=[CHART, int(_chart(late)["updates"])],
        timeout=UPDATE_MS,
    )  # live again after the reload
    assert any("/news?" in u for u in api_calls) and any("/candles?" in u for u in api_calls)
    assert sum("/updates?" in u for u in api_calls) >= 2, api_calls
    late.close()

    # 4a. French
    page.select_option("[data-testid=lang-select]", "fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("[data-testid=replay-badge]")).to_contain_text("historique enregistré")
    expect(page.locator(".news-panel h2")).to_have_text("Actualités")
    expect(page.locator("[data-testid=range-all]")).to_have_text("Tout")
    page.click("[data-testid=nav-overview]")
    assert "lang=fr" in page.url

    # 3b. the chart moves: a new candle (or a new last time) within a minute and a bit
    page.wait_for_function(
        """([sel, candles, last]) => {
            const ds = document.querySelector(sel).dataset;
            return ds.candles !== candles || ds.lastTime !== last;
        }""",
        arg=[CHART, before["candles"], before["lastTime"]],
        timeout=ROLLOVER_MS,
    )

    # 4b. range buttons: 24h is the default, so go through "All" and back
    page.click("[data-testid=range-all]")
    expect(page.locator("[data-testid=range-all]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("[data-testid=range-24h]")).to_have_attribute("aria-pressed", "false")
    page.wait_for_function(
        "sel => document.querySelector(sel).dataset.resolution !== '60'", arg=CHART
    )
    assert 0 < int(_chart(page)["candles"]) <= 2100

    page.click("[data-testid=range-24h]")
    expect(page.locator("[data-testid=range-24h]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("[data-testid=range-all]")).to_have_attribute("aria-pressed", "false")
    page.wait_for_function(
        "sel => document.querySelector(sel).dataset.resolution === '60'", arg=CHART
    )
    expect(page.locator("[data-testid=chart-message]")).to_be_hidden()
    assert 0 < int(_chart(page)["candles"]) <= 2100
    assert "range=24h" in page.url

    expect(page.locator("[data-testid=sentiment-index] h2")).to_have_text("Indice de sentiment")
    expect(page.locator("[data-testid=nav-alerts]")).to_contain_text("Alertes")
    expect(page.locator("[data-testid=topic-filter] option").first).to_have_text("Tous les thèmes")
    page.click("[data-testid=nav-alerts]")
    expect(page.locator("[data-testid=alerts-panel]")).to_be_visible()
    page.click("[data-testid=nav-overview]")

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert not page_errors, f"uncaught errors in the page: {page_errors}"

"""The dashboard's views in a real browser (issue 8): Overview (candles, news markers with a
tooltip and a details panel), News (filters), Trends, Impact, Health (dead letters, engine),
Alerts (rules behind the admin token), the time scale (presets, zoom → finer resolution), French,
the whole state in the URL, and no CSP violation. One ``btcpulse up --no-live`` for the module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import wait_for
from harness import Running
from test_browser import (
    ADMIN_TOKEN,
    ARTIFACTS,
    CHART,
    LOAD_MS,
    NEWS_ITEMS,
    NEWS_MS,
    _news,
    _produce_news,
    launch_browser,
    make_settings,
    new_context,
    run_service,
    sync_api,
)

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWS = ["overview", "news", "trends", "impact", "health", "alerts"]
# Records CSP violations (an init script runs outside the page's CSP).
CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def views_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("browser-views"))


@pytest.fixture(scope="module")
def service(views_settings: Settings) -> Iterator[Running]:
    yield from run_service(views_settings, views_settings.data_dir.parent / "up.log")


@pytest.fixture(scope="module")
def browser(service: Running) -> Iterator[Any]:
    yield from launch_browser(service)


class Page:
    """A page with its console errors and CSP violations collected."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.add_init_script(CSP_PROBE)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on(
            "console",
            lambda m: self.errors.append(m.text) if m.type == "error" else None,
        )

    def check_clean(self) -> None:
        assert self.page.evaluate("window.__csp") == [], "CSP violations"
        assert not self.errors, f"console errors / uncaught exceptions: {self.errors}"


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = new_context(browser)
    try:
        yield ctx
    finally:
        ctx.close()


def _open(context: Any, service: Running, query: str = "") -> Page:
    p = Page(context)
    p.page.goto(f"{service.base}/{query}", wait_until="domcontentloaded")
    p.page.wait_for_function(
        "sel => Number(document.querySelector(sel)?.dataset.candles || 0) > 0",
        arg=CHART,
        timeout=LOAD_MS,
    )
    sync_api.expect(p.page.locator("[data-testid=ws-status][data-state=open]")).to_have_count(1)
    return p


def _chart(page: Any) -> dict[str, str]:
    state: dict[str, str] = page.eval_on_selector(CHART, "el => ({...el.dataset})")
    return state


def _show(page: Any, view: str) -> None:
    page.click(f"[data-testid=nav-{view}]")
    sync_api.expect(page.locator(f"[data-testid=view-{view}]")).to_be_visible()
    page.wait_for_function(
        "v => new URL(location.href).searchParams.get('view') === v "
        "|| (v === 'overview' && !new URL(location.href).searchParams.has('view'))",
        arg=view,
    )


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"))


def _hover_a_marker(page: Any) -> None:
    """Sweep the pointer over the chart until the news tooltip shows (markers sit on bars)."""
    box = page.locator(CHART).bounding_box()
    y = box["y"] + box["height"] * 0.3
    tooltip = page.locator("[data-testid=chart-tooltip]")
    for x in range(int(box["x"] + box["width"] - 80), int(box["x"] + 10), -3):
        page.mouse.move(x, y)
        if tooltip.is_visible():
            return
    raise AssertionError("no news marker found under the pointer")


def test_every_view_renders_with_data(
    context: Any, service: Running, views_settings: Settings
) -> None:
    expect = sync_api.expect
    # a dead letter: an input the pipeline rejects (not JSON)
    p = EmbeddedLog(views_settings.resolved_bus_path).producer()
    p.produce(views_settings.topic_news, b'{"id": "bad", "title": <script>', key=b"bad")
    p.flush()
    p.close()
    wait_for(lambda: service.get("/api/v1/errors?limit=5")["errors"], 30, "a dead letter")

    pg = _open(context, service)
    page = pg.page

    # Overview: candles, news markers (hover: headline + source + time; click: details + link)
    page.wait_for_function(
        "sel => Number(document.querySelector(sel).dataset.markers) > 0", arg=CHART
    )
    expect(page.locator("[data-testid=sentiment-index]")).to_have_attribute(
        "data-value", re.compile(r"^\d+(\.\d)?$"), timeout=NEWS_MS
    )
    expect(page.locator("[data-testid=chart-resolution]")).to_contain_text("Resolution 1m")
    expect(
        page.locator("[data-testid=recent-alerts] [data-testid=alert-item]").first
    ).to_be_visible()
    _hover_a_marker(page)
    tip = page.locator("[data-testid=chart-tooltip] [data-testid=tooltip-item]").first
    tip_id = tip.get_attribute("data-id")
    assert tip.inner_text().strip()
    api_item = service.get(f"/api/v1/news/{tip_id}")
    assert api_item["title"] in tip.inner_text()
    assert api_item["source"] in tip.inner_text()
    page.mouse.down()
    page.mouse.up()
    card = page.locator(f'[data-testid=marker-card][data-id="{tip_id}"]')
    expect(card).to_be_visible()
    link = card.locator("[data-testid=marker-link]")
    if re.match(r"^https?://", api_item["url"] or ""):
        expect(link).to_have_attribute("href", api_item["url"])
        expect(link).to_have_attribute("rel", "noopener noreferrer")
        expect(link).to_have_attribute("target", "_blank")
    _shot(page, "overview")
    card.locator("[data-testid=marker-show-in-news]").click()
    expect(page.locator("[data-testid=view-news]")).to_be_visible()
    expect(page.locator(f'{NEWS_ITEMS}[data-id="{tip_id}"].is-highlighted')).to_have_count(1)

    # News: the stream with links to the originals, stories beside it
    assert page.locator(NEWS_ITEMS).count() > 0
    for a in page.locator(f"{NEWS_ITEMS} a.news-title").all()[:10]:
        assert re.match(r"^https?://", a.get_attribute("href") or "")
        assert "noopener" in (a.get_attribute("rel") or "")
    expect(page.locator("[data-testid=stories-panel]")).to_be_visible()
    _shot(page, "news")

    # Trends: one line per topic, the current bursts as listed by the API
    _show(page, "trends")
    trends = page.locator("[data-testid=trends-chart]")
    expect(trends).to_have_attribute("data-ready", "true")
    assert int(trends.get_attribute("data-series") or 0) > 0
    assert int(trends.get_attribute("data-points") or 0) > 1
    expect(trends.locator("canvas").first).to_be_visible()
    bursts = service.get("/api/v1/bursts?replay=true&min_z=3")["bursts"]
    expect(page.locator("[data-testid=burst-item]")).to_have_count(min(len(bursts), 20))
    _shot(page, "trends")

    # Impact: a row per topic with counts, then per source
    _show(page, "impact")
    rows = service.get("/api/v1/impact?replay=true&by=topic")["rows"]
    assert rows, "the replay has no measured impact"
    expect(page.locator("[data-testid=impact-row]")).to_have_count(len(rows))
    first = page.locator("[data-testid=impact-row]").first
    key = first.get_attribute("data-key")
    row = next(r for r in rows if r["topic"] == key)
    assert first.get_attribute("data-n") == str(row["n"])
    page.click("[data-testid=impact-by-source]")
    expect(page.locator("[data-testid=impact-table]")).to_have_attribute("data-by", "source")
    sources = service.get("/api/v1/impact?replay=true&by=source")["rows"]
    expect(page.locator("[data-testid=impact-row]")).to_have_count(len(sources))
    page.click("[data-testid=impact-by-topic]")
    expect(page.locator("[data-testid=impact-row]")).to_have_count(len(rows))
    _shot(page, "impact")

    # Health: every source, the engine's lag, the dead letter (its payload inert text)
    _show(page, "health")
    names = {s["name"] for s in service.get("/api/v1/health")["sources"]}
    expect(page.locator("[data-testid=health-row]")).to_have_count(len(names))
    expect(page.locator("[data-testid=engine-lag]")).to_be_visible()
    dead = page.locator("[data-testid=dead-letter]").first
    expect(dead).to_contain_text("<script>")
    expect(dead).to_contain_text("parse")
    assert page.locator("[data-testid=dead-letters] script").count() == 0
    _shot(page, "health")

    # Alerts: the list and the rules as the server has them
    _show(page, "alerts")
    expect(page.locator("[data-testid=alert-list] [data-testid=alert-item]").first).to_be_visible()
    rules = service.get("/api/v1/alerts/rules")["rules"]
    expect(page.locator("[data-testid=rules-text]")).to_have_value("\n".join(rules))
    _shot(page, "alerts")
    pg.check_clean()


def test_news_filters_live_and_url_state(
    context: Any, service: Running, views_settings: Settings
) -> None:
    expect = sync_api.expect
    pg = _open(context, service, "?view=news")
    page = pg.page
    expect(page.locator(NEWS_ITEMS).first).to_be_visible()
    total = page.locator(NEWS_ITEMS).count()
    before = _markers_and_replayed_rows(page)

    # live: headlines arrive over the WebSocket, every one in the list; on the chart (the replay
    # venue's) only the replayed one becomes a marker: replayed and live data are separate worlds
    item = _news("Filterable zebra headline about bitcoin", "https://example.test/zebra")
    replayed = _news("Replayed okapi headline about bitcoin", "https://example.test/okapi")
    replayed = replayed.model_copy(update={"source": "replay:coindesk"})
    _produce_news(views_settings, item)
    _produce_news(views_settings, replayed)
    row = page.locator(f'{NEWS_ITEMS}[data-id="{item.id}"]')
    replayed_row = page.locator(f'{NEWS_ITEMS}[data-id="{replayed.id}"]')
    expect(row).to_have_count(1, timeout=NEWS_MS)
    expect(replayed_row).to_have_count(1, timeout=NEWS_MS)
    expect(replayed_row.locator(".tag-replay")).to_have_count(1)
    expect(row.locator(".tag-replay")).to_have_count(0)
    page.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel).dataset.markers) > n",
        arg=[CHART, before["markers"]],
    )
    after = _markers_and_replayed_rows(page)
    # the markers added are the replayed rows that arrived (ours, and any the replay played
    # meanwhile): the live headline is not one of them
    arrived = set(after["replayed"]) - set(before["replayed"])
    assert replayed.id in arrived
    assert after["markers"] - before["markers"] == len(arrived), (before, after)

    # source: only "test" rows
    expect(page.locator("[data-testid=source-filter] option[value=test]")).to_have_count(1)
    page.select_option("[data-testid=source-filter]", "test")
    expect(page.locator(f'{NEWS_ITEMS}[data-id="{item.id}"]')).to_have_count(1)
    expect(page.locator(f"{NEWS_ITEMS}:not(:has(.news-source:text-is('test')))")).to_have_count(0)
    assert page.locator(NEWS_ITEMS).count() < total
    page.select_option("[data-testid=source-filter]", "")

    # sentiment: only negative rows, fewer than all
    page.select_option("[data-testid=sentiment-filter]", "negative")
    page.wait_for_function(
        "() => new URL(location.href).searchParams.get('sentiment') === 'negative'"
    )
    expect(page.locator(f"{NEWS_ITEMS}:not([data-sentiment=negative])")).to_have_count(0)
    negatives = page.locator(NEWS_ITEMS).count()
    assert 0 < negatives < total
    page.select_option("[data-testid=sentiment-filter]", "")
    expect(page.locator(NEWS_ITEMS)).to_have_count(min(total + 2, 50))

    # text search (debounced): one request for the whole word, the row matches
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/api/v1/news?" in r.url else None)
    page.locator("[data-testid=news-search]").press_sequentially("zebra", delay=30)
    expect(page.locator(NEWS_ITEMS)).to_have_count(1)
    expect(page.locator(f'{NEWS_ITEMS}[data-id="{item.id}"]')).to_have_count(1)
    assert [u for u in calls if "q=" in u] == [u for u in calls if "q=zebra" in u], calls
    assert "q=zebra" in page.url

    # the state is in the URL and restored on load
    page.select_option("[data-testid=sentiment-filter]", item_sentiment(page, item.id))
    url = page.url
    page.goto(url, wait_until="domcontentloaded")
    expect(page.locator("[data-testid=view-news]")).to_be_visible()
    expect(page.locator("[data-testid=news-search]")).to_have_value("zebra")
    expect(page.locator(f'{NEWS_ITEMS}[data-id="{item.id}"]')).to_have_count(1, timeout=LOAD_MS)
    page.click("[data-testid=clear-filters]")
    page.wait_for_function("() => !new URL(location.href).searchParams.has('q')")
    pg.check_clean()


def _markers_and_replayed_rows(page: Any) -> dict[str, Any]:
    """The chart's marker count and the News rows labelled REPLAY, read at one instant."""
    state: dict[str, Any] = page.evaluate(
        """([sel, rows]) => ({
            markers: Number(document.querySelector(sel).dataset.markers),
            replayed: [...document.querySelectorAll(rows)]
                .filter((r) => r.querySelector(".tag-replay"))
                .map((r) => r.dataset.id),
        })""",
        [CHART, NEWS_ITEMS],
    )
    return state


def item_sentiment(page: Any, item_id: str) -> str:
    value: str = page.locator(f'{NEWS_ITEMS}[data-id="{item_id}"]').get_attribute("data-sentiment")
    return value


def test_time_scale_presets_and_zoom(context: Any, service: Running) -> None:
    expect = sync_api.expect
    pg = _open(context, service, "?range=24h")
    page = pg.page
    day = _chart(page)
    assert day["resolution"] == "60"
    expect(page.locator("[data-testid=chart-resolution]")).to_contain_text("1m")

    # 7d: a longer range at a coarser resolution
    page.click("[data-testid=range-7d]")
    page.wait_for_function(
        "sel => document.querySelector(sel).dataset.resolution === '900'", arg=CHART
    )
    week = _chart(page)
    assert int(week["firstTime"]) < int(day["firstTime"])
    assert "range=7d" in page.url
    expect(page.locator("[data-testid=chart-resolution]")).to_contain_text("15m")

    # 15m: a short range (the replay stores nothing finer than 1m)
    page.click("[data-testid=range-15m]")
    page.wait_for_function(
        "sel => document.querySelector(sel).dataset.resolution === '60'", arg=CHART
    )
    short = _chart(page)
    assert int(short["lastTime"]) - int(short["firstTime"]) <= 16 * 60
    assert int(short["candles"]) <= 17

    # zoom with the mouse wheel on the 7d chart: refetched for the visible span, finer
    page.click("[data-testid=range-7d]")
    page.wait_for_function(
        "sel => document.querySelector(sel).dataset.resolution === '900'", arg=CHART
    )
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/api/v1/candles?" in r.url else None)
    box = page.locator(CHART).bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
    for _ in range(12):
        page.mouse.wheel(0, -400)
    page.wait_for_function(
        "sel => document.querySelector(sel).dataset.resolution === '60'", arg=CHART
    )
    assert any("from=" in u for u in calls), calls
    assert "from=" in page.url and "range=" not in page.url
    zoomed = _chart(page)
    expect(page.locator("[data-testid=range-7d]")).to_have_attribute("aria-pressed", "false")
    _shot(page, "zoomed")

    # the zoomed window is restored from the URL
    page.goto(page.url, wait_until="domcontentloaded")
    page.wait_for_function(
        "sel => document.querySelector(sel).dataset.resolution === '60'", arg=CHART
    )
    restored = _chart(page)
    assert abs(int(restored["firstTime"]) - int(zoomed["firstTime"])) <= 120
    pg.check_clean()


def test_alert_rules_form(context: Any, service: Running) -> None:
    expect = sync_api.expect
    pg = _open(context, service, "?view=alerts")
    page = pg.page
    original = service.get("/api/v1/alerts/rules")
    assert original["writable"] is True
    text = page.locator("[data-testid=rules-text]")
    expect(text).to_have_value("\n".join(original["rules"]))
    msg = page.locator("[data-testid=rules-message]")

    new_rules = ["index>80", "index<20", "burst>=4"]
    text.fill("\n".join(new_rules))
    # a wrong token is refused: the server's message is shown, nothing changes
    page.fill("[data-testid=admin-token]", "not-the-token")
    page.click("[data-testid=rules-save]")
    expect(msg).to_have_attribute("data-kind", "error")
    expect(msg).to_contain_text("401")
    expect(msg).to_contain_text("a valid admin token is required")
    assert service.get("/api/v1/alerts/rules")["rules"] == original["rules"]

    # a rule the server does not understand: 422 with its reason
    page.fill("[data-testid=admin-token]", ADMIN_TOKEN)
    text.fill("index>80\nthis is not a rule")
    page.click("[data-testid=rules-save]")
    expect(msg).to_contain_text("422")
    assert service.get("/api/v1/alerts/rules")["rules"] == original["rules"]

    # the right token: saved, and read back from the API
    text.fill("\n".join(new_rules))
    page.click("[data-testid=rules-save]")
    expect(msg).to_have_attribute("data-kind", "ok")
    saved = service.get("/api/v1/alerts/rules")
    assert saved["rules"] == new_rules and saved["origin"] == "store"
    expect(page.locator("[data-testid=rules-meta]")).to_have_attribute("data-origin", "store")
    # the token stays in sessionStorage, never in the URL
    assert ADMIN_TOKEN not in page.url
    assert page.evaluate("sessionStorage.getItem('btcpulse.adminToken')") == ADMIN_TOKEN
    assert page.evaluate("JSON.stringify(localStorage)").find(ADMIN_TOKEN) < 0
    page.reload(wait_until="domcontentloaded")
    expect(page.locator("[data-testid=admin-token]")).to_have_value(ADMIN_TOKEN)
    expect(page.locator("[data-testid=rules-text]")).to_have_value("\n".join(new_rules))
    pg.errors[:] = [e for e in pg.errors if "401" not in e and "422" not in e]  # the refusals
    pg.check_clean()


FRENCH = {
    "overview": [
        "Actualit\u00e9s sur le graphique",
        "Titre sélectionné",
        "Alertes en cours",
        "Résolution",
    ],
    "news": ["Actualités", "Sujets", "Sentiment", "Effacer les filtres"],
    "trends": ["Volumes par thème", "Pics en cours", "Fenêtre"],
    "impact": ["Impact des actualités sur le cours", "après 1 min", "après 1 h"],
    "health": ["Rejets", "Moteur", "Retard", "Dernier succès"],
    "alerts": ["Règles d\u2019alerte", "Jeton d\u2019administration", "Enregistrer les règles"],
}


def test_french_every_view_and_remembered(context: Any, service: Running) -> None:
    expect = sync_api.expect
    pg = _open(context, service)
    page = pg.page
    page.select_option("[data-testid=lang-select]", "fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("[data-testid=nav-overview]")).to_have_text("Vue d\u2019ensemble")
    expect(page.locator("[data-testid=nav-trends]")).to_have_text("Tendances")
    for view in VIEWS:
        _show(page, view)
        section = page.locator(f"[data-testid=view-{view}]")
        for text in FRENCH[view]:
            expect(section).to_contain_text(text)
        _shot(page, f"{view}-fr")
    expect(page.locator("[data-testid=news-search]")).to_have_attribute(
        "placeholder", "Rechercher dans les titres…"
    )
    # remembered: a fresh load without ?lang= is still French
    page.goto(f"{service.base}/?view=trends", wait_until="domcontentloaded")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("[data-testid=view-trends]")).to_contain_text("Volumes par thème")
    expect(page.locator("[data-testid=nav-overview]")).to_have_text("Vue d\u2019ensemble")
    pg.check_clean()

"""Dashboard follow-ups in a real browser: alerts rendered in the reader's language from their
``params`` (list, overview, live toast), the export links of the chart's range (fetched and
checked against the candles the chart shows), and news the sentiment model did not score
("not scored (fr)", never counted as neutral). One ``btcpulse up --no-live`` for the module.

Synthetic alerts / headlines reach the page the way real ones do: the REST answer (a route
that adds to the server's own list) or the WebSocket (a proxy to the real server that slips an
update in after a real one, with a seq between two real ones).
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from harness import Running
from test_browser import (
    ARTIFACTS,
    CHART,
    LOAD_MS,
    NEWS_ITEMS,
    NEWS_MS,
    _produce_news,
    launch_browser,
    make_settings,
    new_context,
    run_service,
    sync_api,
)
from test_browser_views import CSP_PROBE

from btcpulse.config import Settings
from btcpulse.events import NewsItem

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CANDLE_COLUMNS = [
    "time",
    "t",
    "venue",
    "symbol",
    "resolution_s",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "vwap",
    "trades",
]
INDEX_COLUMNS = ["time", "t", "index", "sentiment", "volume", "momentum", "volatility", "n_news"]
NEWS_COLUMNS = ["published_at", "id", "source", "url", "title", "summary", "author", "lang"]


@pytest.fixture(scope="module")
def extras_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("browser-extras"))


@pytest.fixture(scope="module")
def service(extras_settings: Settings) -> Iterator[Running]:
    yield from run_service(extras_settings, extras_settings.data_dir.parent / "up.log")


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


class WsTap:
    """Proxies the page's WebSocket to the server; ``inject`` slips updates in after the next
    real one (seq + a fraction: after it, before the next), again after every real one until
    ``stop``, as updates are idempotent keyed snapshots."""

    def __init__(self, page: Any) -> None:
        self.pending: list[tuple[str, str, dict[str, Any]]] = []
        page.route_web_socket(re.compile(r"/ws$"), self._route)

    def _route(self, ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(msg: str | bytes) -> None:
            ws.send(msg)
            try:
                seq = json.loads(msg).get("seq")
            except (ValueError, AttributeError):
                return
            if not isinstance(seq, int | float):
                return
            n = len(self.pending)
            for i, (kind, key, data) in enumerate(self.pending):
                step = (i + 1) / (n + 1)  # strictly between this seq and the next
                update = {"type": "update", "seq": seq + step, "key": key, "kind": kind}
                ws.send(json.dumps({**update, "data": data}))

        server.on_message(from_server)

    def inject(self, kind: str, key: str, data: dict[str, Any]) -> None:
        self.pending.append((kind, key, data))

    def stop(self) -> None:
        self.pending.clear()


class Page:
    """A page with its console errors and CSP violations collected (and a WebSocket tap)."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.add_init_script(CSP_PROBE)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.ws = WsTap(self.page)

    def open(self, service: Running, query: str = "") -> Any:
        self.page.goto(f"{service.base}/{query}", wait_until="domcontentloaded")
        self.page.wait_for_function(
            "sel => Number(document.querySelector(sel)?.dataset.candles || 0) > 0",
            arg=CHART,
            timeout=LOAD_MS,
        )
        sync_api.expect(
            self.page.locator("[data-testid=ws-status][data-state=open]")
        ).to_have_count(1)
        return self.page

    def check_clean(self) -> None:
        assert self.page.evaluate("window.__csp") == [], "CSP violations"
        assert not self.errors, f"console errors / uncaught exceptions: {self.errors}"


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"))


def _text(s: str) -> str:
    """Intl's narrow / no-break spaces (French groups, "2,35 %") as plain spaces."""
    return s.replace("\u202f", " ").replace("\u00a0", " ")


# ---- alerts -------------------------------------------------------------------------------

T_ALERT = int(datetime(2026, 11, 28, 16, 2, tzinfo=UTC).timestamp())


def _alert(kind: str, params: dict[str, Any], message: str, t: int = T_ALERT) -> dict[str, Any]:
    return {
        "alert_id": f"test-{kind}-{uuid.uuid4().hex[:8]}",
        "kind": kind,
        "rule": f"test rule {kind}",
        "t": t,
        "value": next((float(params[k]) for k in ("change_pct", "now", "z") if k in params), 0.0),
        "message": message,
        "params": params,
        "replay": True,
        "created_at": datetime.now(UTC).isoformat(),
    }


SYNTHETIC = [
    _alert(
        "price_move",
        {"minutes": 60, "from": 20244.47, "to": 19768.49, "change_pct": -2.3512},
        "Bitcoin fell 2.35% in 60 min, from 20,244.47 to 19,768.49 at 2026-11-28 16:02 UTC.",
        T_ALERT + 3,
    ),
    _alert(
        "index_cross",
        {"direction": "up", "level": 75.0, "now": 76.0, "was": 68.3},
        "The sentiment index crossed above 75 at 2026-11-28 16:02 UTC (now 76.0, was 68.3).",
        T_ALERT + 2,
    ),
    _alert(
        "burst",
        {"key": "regulation", "count": 5, "resolution_s": 3600, "z": 3.2},
        "News burst on regulation: 5 articles in the 1 h from 2026-11-28 16:02 UTC, …",
        T_ALERT + 1,
    ),
    _alert(
        "burst",
        {"key": "term:halving", "count": 1, "resolution_s": 900, "z": 4.25},
        "News burst on term:halving: 1 articles in the 15 min from …",
        T_ALERT,
    ),
    # an old alert (no params) and one whose params do not fit: the server's text, as text
    _alert("price_move", {}, '<img src=x onerror="window.__xss=1">Old English message', 1),
    _alert("index_cross", {"direction": "sideways", "level": 5}, "Unknown shape message", 2),
]
EXPECTED = {
    "en": [
        "Bitcoin fell 2.35% in 60 min, from 20,244.47 to 19,768.49 at 28 Nov 2026, 16:02 UTC.",
        "The sentiment index crossed above 75 at 28 Nov 2026, 16:02 UTC (now 76.0, was 68.3).",
        "News burst on Regulation: 5 articles in 1 hour from 28 Nov 2026, 16:02 UTC, "
        "3.2 standard deviations above normal.",
        "News burst on “halving”: 1 article in 15 minutes from 28 Nov 2026, 16:02 UTC, "
        "4.3 standard deviations above normal.",
    ],
    "fr": [
        "Le bitcoin a baissé de 2,35 % en 60 min, de 20 244,47 à 19 768,49, le 28 nov. 2026",
        "L\u2019indice de sentiment est passé au-dessus de 75 le 28 nov. 2026",
        "(maintenant 76,0, avant 68,3).",
        "Pic d\u2019actualités sur le thème Réglementation : 5 articles en 1 heure à partir du "
        "28 nov. 2026",
        "soit 3,2 écarts-types au-dessus de la normale.",
        "Pic d\u2019actualités sur le thème « halving » : 1 article en 15 minutes",
    ],
}


def _route_alerts(page: Any, extra: list[dict[str, Any]]) -> None:
    """The server's /alerts answer, with ``extra`` alerts added."""

    def handle(route: Any) -> None:
        resp = route.fetch()
        body = resp.json()
        body["alerts"] = extra + body["alerts"][: 50 - len(extra)]  # the page shows 50
        route.fulfill(response=resp, json=body)

    page.route(re.compile(r"/api/v1/alerts(\?|$)"), handle)


def test_alerts_in_the_readers_language(context: Any, service: Running) -> None:
    expect = sync_api.expect
    pg = Page(context)
    _route_alerts(pg.page, SYNTHETIC)
    page = pg.open(service, "?view=alerts&lang=en")
    items = page.locator("[data-testid=alert-list] [data-testid=alert-item]")
    expect(items.first).to_be_visible()
    ids = [a["alert_id"] for a in SYNTHETIC]
    for a in SYNTHETIC:
        expect(page.locator(f'[data-testid=alert-item][data-id="{a["alert_id"]}"]')).to_have_count(
            1
        )

    def message_of(alert_id: str) -> str:
        sel = f'[data-testid=alert-list] [data-id="{alert_id}"] [data-testid=alert-message]'
        return _text(page.locator(sel).inner_text())

    english = " | ".join(message_of(i) for i in ids)
    for text in EXPECTED["en"]:
        assert text in english, (text, english)
    # no params / unknown shape: the server's message, inert text
    old = page.locator(f'[data-testid=alert-list] [data-id="{ids[4]}"] [data-testid=alert-message]')
    expect(old).to_have_attribute("data-from", "message")
    expect(old).to_have_text(SYNTHETIC[4]["message"])
    assert page.locator("[data-testid=alert-list] img").count() == 0
    assert page.evaluate("window.__xss") is None
    assert message_of(ids[5]) == "Unknown shape message"

    # the server's own alerts (each carries params): rendered from them, not from `message`
    real = service.get("/api/v1/alerts?limit=50")["alerts"]
    assert real, "the replay raised no alert"
    with_params = [a for a in real if a.get("params")]
    assert with_params, "the server's alerts carry no params"
    kinds = {a["kind"] for a in real}
    assert kinds <= {"index_cross", "burst", "price_move"}, kinds
    for a in with_params[:10]:
        row = page.locator(f'[data-testid=alert-list] [data-id="{a["alert_id"]}"]')
        if row.count():  # the list shows the 50 newest of the server's and the synthetic ones
            expect(row.locator("[data-testid=alert-message]")).to_have_attribute(
                "data-from", "params"
            )
    _shot(page, "alerts-en")

    # French: the same alerts, French words and number formats (decimal comma, spaced groups)
    page.select_option("[data-testid=lang-select]", "fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    french = " | ".join(message_of(i) for i in ids)
    for text in EXPECTED["fr"]:
        assert text in french, (text, french)
    assert "2.35" not in french and "Bitcoin fell" not in french
    # a real alert in French too: no English sentence left where params exist
    for a in with_params[:5]:
        row = page.locator(f'[data-testid=alert-list] [data-id="{a["alert_id"]}"]')
        if row.count():
            txt = _text(row.locator("[data-testid=alert-message]").inner_text())
            assert not re.search(r"\b(crossed|News burst|Bitcoin (rose|fell))\b", txt), txt
    _shot(page, "alerts-fr")

    # local time: the alert's time follows the UTC / local choice (the context is in UTC, so
    # the local rendering drops the "UTC" zone name)
    page.click("[data-testid=tz-toggle]")
    expect(page.locator(f'[data-testid=alert-list] [data-id="{ids[0]}"]')).not_to_contain_text(
        "UTC"
    )
    page.click("[data-testid=tz-toggle]")

    # Overview "current alerts": the newest four, in French
    page.click("[data-testid=nav-overview]")
    recent = page.locator("[data-testid=recent-alerts] [data-testid=alert-message]")
    expect(recent.first).to_be_visible()
    assert recent.count() <= 4
    for i in range(recent.count()):
        txt = _text(recent.nth(i).inner_text())
        if recent.nth(i).get_attribute("data-from") == "params":
            assert not re.search(r"\b(crossed|News burst|Bitcoin (rose|fell))\b", txt), txt

    # live: a new alert over the WebSocket pops a toast, in French
    live = _alert(
        "price_move",
        {"minutes": 15, "from": 19000.5, "to": 19500.25, "change_pct": 2.6302},
        "Bitcoin rose 2.63% in 15 min, from 19,000.50 to 19,500.25 at …",
        int(time.time()),
    )
    data = {k: v for k, v in live.items() if k != "t"} | {"time": live["t"]}
    pg.ws.inject("alert", f"alert:{live['alert_id']}", data)
    toast = page.locator(f'[data-testid=alert-toast][data-id="{live["alert_id"]}"]')
    expect(toast).to_be_visible(timeout=NEWS_MS)
    pg.ws.stop()
    expect(toast).to_contain_text("Nouvelle alerte")
    toast_text = _text(toast.inner_text())
    assert "Le bitcoin a progressé de 2,63 % en 15 min, de 19 000,50 à 19 500,25" in toast_text
    expect(
        page.locator(f'[data-testid=recent-alerts] [data-id="{live["alert_id"]}"]')
    ).to_contain_text("a progressé de 2,63")
    _shot(page, "alerts-toast-fr")
    pg.check_clean()


# ---- export links -----------------------------------------------------------------------


def _query(href: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(href)
    return parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}


def iso(s: int) -> str:
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _csv(service: Running, page: Any, href: str) -> tuple[list[str], list[list[str]], str]:
    resp = page.request.get(service.base + href)
    assert resp.status == 200, (href, resp.status, resp.text()[:300])
    disposition = resp.headers.get("content-disposition", "")
    rows = list(csv.reader(io.StringIO(resp.text())))
    return rows[0], rows[1:], disposition


def test_export_links(context: Any, service: Running) -> None:
    expect = sync_api.expect
    pg = Page(context)
    requests: list[str] = []
    pg.page.on("request", lambda r: requests.append(r.url) if "/api/v1/candles?" in r.url else None)
    page = pg.open(service, "?range=24h")
    chart = page.eval_on_selector(CHART, "el => ({...el.dataset})")
    venue = parse_qs(urlsplit(requests[-1]).query)["venue"][0]
    symbol = parse_qs(urlsplit(requests[-1]).query)["symbol"][0]

    # a preset: from the chart's start, no `to` (up to now, like the chart's live tail)
    page.click("[data-testid=export-toggle]")
    candles_link = page.locator("[data-testid=export-links] [data-testid=export-candles-csv]")
    expect(candles_link).to_be_visible()
    path, q = _query(candles_link.get_attribute("href") or "")
    assert path == "/api/v1/export/candles"
    assert q["venue"] == venue and q["symbol"] == symbol and q["resolution"] == "1m"
    assert q["format"] == "csv" and "to" not in q
    asked_from = parse_qs(urlsplit(requests[-1]).query)["from"][0]
    assert datetime.fromisoformat(q["from"]) == datetime.fromisoformat(asked_from)
    assert candles_link.get_attribute("download") == ""

    # a fixed window (free zoom, from the URL): every link covers exactly it
    last = int(chart["lastTime"])
    to = last - last % 60 - 1800
    frm = to - 3 * 3600
    assert frm >= int(chart["firstTime"]), "the replay's history is shorter than 4 hours"
    page.goto(
        f"{service.base}/?from={iso(frm)}&to={iso(to)}&venue={venue}", wait_until="domcontentloaded"
    )
    page.wait_for_function(
        "sel => Number(document.querySelector(sel)?.dataset.candles || 0) > 0",
        arg=CHART,
        timeout=LOAD_MS,
    )
    chart = page.eval_on_selector(CHART, "el => ({...el.dataset})")
    assert chart["resolutionName"] == "1m"
    page.click("[data-testid=export-toggle]")
    links = {
        name: page.locator(f"[data-testid=export-links] [data-testid=export-{name}]")
        for name in ("candles-csv", "candles-parquet", "news-csv", "index-csv")
    }
    for link in links.values():
        expect(link).to_be_visible()
    hrefs = {name: link.get_attribute("href") or "" for name, link in links.items()}
    for name, href in hrefs.items():
        path, q = _query(href)
        assert datetime.fromisoformat(q["from"]).timestamp() == frm, (name, href)
        assert datetime.fromisoformat(q["to"]).timestamp() == to, (name, href)
    assert _query(hrefs["candles-parquet"])[1]["format"] == "parquet"
    assert _query(hrefs["news-csv"])[0] == "/api/v1/export/news"
    path, q = _query(hrefs["index-csv"])
    assert path == "/api/v1/export/analytics" and q["replay"] == "true"  # the replay venue
    expect(page.locator("[data-testid=export-range]")).to_contain_text("→")
    _shot(page, "export")

    # fetched: the candles CSV is exactly the candles the chart shows
    header, rows, disposition = _csv(service, page, hrefs["candles-csv"])
    assert header == CANDLE_COLUMNS
    assert 'attachment; filename="btcpulse-candles-' in disposition and ".csv" in disposition
    assert len(rows) == int(chart["candles"]), (len(rows), chart)
    first = dict(zip(header, rows[0], strict=True))
    assert int(first["t"]) == int(chart["firstTime"])
    assert first["venue"] == venue and first["symbol"] == symbol
    assert first["resolution_s"] == "60"
    assert datetime.fromisoformat(first["time"]).timestamp() == int(first["t"])
    assert int(rows[-1][1]) == int(chart["lastTime"])
    api = service.get(
        f"/api/v1/candles?venue={venue}&symbol={symbol}&from={iso(frm)}&to={iso(to)}"
    )["candles"]
    assert float(first["open"]) == api[0]["open"] and float(first["close"]) == api[0]["close"]

    parquet = page.request.get(service.base + hrefs["candles-parquet"])
    assert parquet.status == 200
    assert parquet.body()[:4] == b"PAR1"

    header, rows, _ = _csv(service, page, hrefs["index-csv"])
    assert header == INDEX_COLUMNS
    assert rows and all(frm <= int(r[1]) <= to for r in rows)

    header, rows, _ = _csv(service, page, hrefs["news-csv"])
    assert header[: len(NEWS_COLUMNS)] == NEWS_COLUMNS
    for r in rows:
        assert frm <= datetime.fromisoformat(r[0]).timestamp() <= to + 1

    # the News view has the news link for the same range; French labels
    page.click("[data-testid=nav-news]")
    news_link = page.locator("[data-testid=news-export] [data-testid=news-export-csv]")
    expect(news_link).to_have_attribute("href", hrefs["news-csv"])
    page.select_option("[data-testid=lang-select]", "fr")
    expect(news_link).to_have_text("Actualités (CSV)")
    expect(page.locator("[data-testid=news-export]")).to_contain_text("Exporter")
    page.click("[data-testid=nav-overview]")
    page.click("[data-testid=export-toggle]")
    expect(links["candles-csv"]).to_have_text("Bougies (CSV)")
    expect(links["index-csv"]).to_have_text("Indice de sentiment (CSV)")
    expect(page.locator("[data-testid=export-toggle]")).to_have_text("Exporter")
    pg.check_clean()


# ---- not scored ---------------------------------------------------------------------------


def _news_payload(title: str, **extra: Any) -> dict[str, Any]:
    """An API / WebSocket news item (store/queries.py ``news``)."""
    return {
        "id": f"test-{uuid.uuid4().hex}",
        "source": "test",
        "url": "https://example.test/" + uuid.uuid4().hex,
        "title": title,
        "summary": "",
        "published_at": datetime.now(UTC).isoformat(),
        "replay": False,
        "topics": [],
        "entities": [],
        "story_id": None,
        "story_sources": None,
        **extra,
    }


def _hover_item(page: Any, item_id: str) -> None:
    """Sweep the pointer over the chart (right to left) until the tooltip lists ``item_id``."""
    box = page.locator(CHART).bounding_box()
    y = box["y"] + box["height"] * 0.3
    sel = f'[data-testid=chart-tooltip] [data-testid=tooltip-item][data-id="{item_id}"]'
    tip = page.locator(sel)
    for x in range(int(box["x"] + box["width"] - 60), int(box["x"] + 10), -3):
        page.mouse.move(x, y)
        if tip.count() and tip.is_visible():
            return
    raise AssertionError(f"no marker of {item_id} under the pointer")


def test_not_scored_news(context: Any, service: Running, extras_settings: Settings) -> None:
    expect = sync_api.expect
    pg = Page(context)
    page = pg.open(service, "?view=news&range=1h")
    expect(page.locator(NEWS_ITEMS).first).to_be_visible()

    # the real pipeline: a French headline (a language the model may not know)
    now = datetime.now(UTC)
    fr_item = NewsItem(
        id=f"test-fr-{uuid.uuid4().hex}",
        source="test",
        url="https://example.test/fr-" + uuid.uuid4().hex,
        title="Le bitcoin recule après une nouvelle réglementation européenne",
        summary="",
        published_at=now,
        fetched_at=now,
        lang="fr",
    )
    _produce_news(extras_settings, fr_item)
    row = page.locator(f'{NEWS_ITEMS}[data-id="{fr_item.id}"]')
    expect(row).to_have_count(1, timeout=NEWS_MS)
    stored = service.get(f"/api/v1/news/{fr_item.id}")
    server_marks_it = stored.get("sentiment_status") == "not_scored"
    print(f"server: sentiment_status={stored.get('sentiment_status')!r} for a 'fr' headline")
    if server_marks_it:
        expect(row).to_have_attribute("data-sentiment", "not_scored")
        expect(row.locator("[data-testid=not-scored]")).to_have_text("not scored (fr)")

    # the rendering, whatever the server does yet: items over the WebSocket (the chart shows
    # the replay venue: the replayed headline becomes a marker, the live one only a row)
    unscored = _news_payload(
        "Le minage de bitcoin en France",
        source="replay:coindesk",
        replay=True,
        lang="fr",
        sentiment=None,
        sentiment_label=None,
        sentiment_status="not_scored",
    )
    legacy = _news_payload(  # an older back end: no sentiment_status, a score; live
        "Bitcoin steady as markets wait", lang="en", sentiment=0.01, sentiment_label="neutral"
    )
    markers_before = int(page.eval_on_selector(CHART, "el => el.dataset.markers"))
    pg.ws.inject("news", f"news:{unscored['id']}", unscored)
    pg.ws.inject("news", f"news:{legacy['id']}", legacy)
    row = page.locator(f'{NEWS_ITEMS}[data-id="{unscored["id"]}"]')
    expect(row).to_have_count(1, timeout=NEWS_MS)
    expect(page.locator(f'{NEWS_ITEMS}[data-id="{legacy["id"]}"]')).to_have_count(1)
    pg.ws.stop()
    expect(row.locator(".tag-replay")).to_have_count(1)
    expect(page.locator(f'{NEWS_ITEMS}[data-id="{legacy["id"]}"] .tag-replay')).to_have_count(0)
    expect(row).to_have_attribute("data-sentiment", "not_scored")
    expect(row.locator("[data-testid=not-scored]")).to_have_text("not scored (fr)")
    dot = row.locator(".sentiment-dot")
    expect(dot).to_have_class(re.compile(r"\bsentiment-not_scored\b"))
    assert "fr" in (dot.get_attribute("title") or "")
    style = dot.evaluate(
        "e => { const s = getComputedStyle(e); return [s.backgroundColor, s.borderTopWidth]; }"
    )
    assert style[0] in ("rgba(0, 0, 0, 0)", "transparent") and style[1] != "0px", style  # hollow
    expect(page.locator(f'{NEWS_ITEMS}[data-id="{legacy["id"]}"]')).to_have_attribute(
        "data-sentiment", "neutral"
    )
    page.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel).dataset.markers) > n",
        arg=[CHART, markers_before],
    )
    assert int(page.eval_on_selector(CHART, "el => el.dataset.unscoredMarkers")) >= 1
    _shot(page, "news-not-scored")

    # the sentiment filter: only under "All", never under neutral
    page.select_option("[data-testid=sentiment-filter]", "neutral")
    page.wait_for_function(
        "() => new URL(location.href).searchParams.get('sentiment') === 'neutral'"
    )
    expect(page.locator(f"{NEWS_ITEMS}:not([data-sentiment=neutral])")).to_have_count(0)
    expect(page.locator(f'{NEWS_ITEMS}[data-id="{unscored["id"]}"]')).to_have_count(0)
    if server_marks_it:
        expect(page.locator(f'{NEWS_ITEMS}[data-id="{fr_item.id}"]')).to_have_count(0)
    # live, under "neutral": a neutral headline shows, an unscored one does not
    unscored2 = _news_payload(
        "Le bitcoin et la BCE",
        lang="fr",
        sentiment=None,
        sentiment_label=None,
        sentiment_status="not_scored",
    )
    neutral2 = _news_payload(
        "Bitcoin flat",
        lang="en",
        sentiment=0.0,
        sentiment_label="neutral",
        sentiment_status="scored",
    )
    pg.ws.inject("news", f"news:{unscored2['id']}", unscored2)
    pg.ws.inject("news", f"news:{neutral2['id']}", neutral2)
    expect(page.locator(f'{NEWS_ITEMS}[data-id="{neutral2["id"]}"]')).to_have_count(
        1, timeout=NEWS_MS
    )
    pg.ws.stop()
    expect(page.locator(f'{NEWS_ITEMS}[data-id="{unscored2["id"]}"]')).to_have_count(0)
    # "All" (reloaded from the server): the server's unscored French headline is there
    page.select_option("[data-testid=sentiment-filter]", "")
    all_fr = page.locator(f'{NEWS_ITEMS}[data-id="{fr_item.id}"]')
    expect(all_fr).to_have_count(1)
    if server_marks_it:
        expect(all_fr.locator("[data-testid=not-scored]")).to_have_text("not scored (fr)")

    # the chart: tooltip and details say "not scored (fr)"
    page.click("[data-testid=nav-overview]")
    _hover_item(page, unscored["id"])
    tip = page.locator(
        f'[data-testid=chart-tooltip] [data-testid=tooltip-item][data-id="{unscored["id"]}"]'
    )
    # the live headlines (newer, on the same bar) are no markers on the replay chart
    for live_id in (legacy["id"], fr_item.id, unscored2["id"], neutral2["id"]):
        sel = f'[data-testid=chart-tooltip] [data-testid=tooltip-item][data-id="{live_id}"]'
        expect(page.locator(sel)).to_have_count(0)
    expect(tip.locator("[data-testid=not-scored]")).to_contain_text("not scored (fr)")
    _shot(page, "overview-not-scored")
    page.mouse.down()
    page.mouse.up()
    card = page.locator(f'[data-testid=marker-card][data-id="{unscored["id"]}"]')
    expect(card).to_have_attribute("data-sentiment", "not_scored")
    expect(card.locator("[data-testid=not-scored]")).to_have_text("not scored (fr)")

    # French
    page.select_option("[data-testid=lang-select]", "fr")
    expect(card.locator("[data-testid=not-scored]")).to_have_text("non évalué (fr)")
    page.click("[data-testid=nav-news]")
    if server_marks_it:
        expect(all_fr.locator("[data-testid=not-scored]")).to_have_text("non évalué (fr)")
    else:  # the server does not mark it yet: the injected one, live
        unscored3 = _news_payload(
            "Le bitcoin en France", lang="fr", sentiment=None, sentiment_status="not_scored"
        )
        pg.ws.inject("news", f"news:{unscored3['id']}", unscored3)
        live = page.locator(f'{NEWS_ITEMS}[data-id="{unscored3["id"]}"] [data-testid=not-scored]')
        expect(live).to_have_text("non évalué (fr)", timeout=NEWS_MS)
        pg.ws.stop()
    _shot(page, "news-not-scored-fr")
    pg.check_clean()

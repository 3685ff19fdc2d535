"""The web app over a store filled by the real engine from the real replay bundle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import REPLAY, drain_engine, wait_for
from fastapi.testclient import TestClient

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.collectors.replay.player import ReplayPlayer
from btcpulse.config import Settings
from btcpulse.events import NewsItem, encode
from btcpulse.store.db import Store
from btcpulse.web.app import create_app


def _process(settings: Settings, store: Store, bus: EmbeddedLog) -> None:
    drain_engine(settings, store, bus)


@pytest.fixture
def client(settings: Settings, store: Store, bus: EmbeddedLog) -> Iterator[TestClient]:
    player = ReplayPlayer(load_bundle(REPLAY), settings, bus.producer(), store, speed=60)
    while player.emit_due():
        pass
    _process(settings, store, bus)
    with TestClient(create_app(settings)) as c:
        yield c


def test_venues_candles_and_resolution_bounds(client: TestClient) -> None:
    venues = client.get("/api/v1/venues").json()["venues"]
    assert [(v["venue"], v["replay"]) for v in venues] == [("replay:binanceus", True)]
    everything = client.get("/api/v1/candles", params={"venue": "replay:binanceus"}).json()
    assert everything["replay"] is True and 0 < len(everything["candles"]) <= 2000
    assert everything["resolution"] == "5m"  # ~3 days of data → 5 min keeps it under 2,000
    ts = [c["t"] for c in everything["candles"]]
    assert ts == sorted(ts)
    now = datetime.now(UTC)
    day = client.get(
        "/api/v1/candles",
        params={"venue": "replay:binanceus", "from": (now - timedelta(hours=24)).isoformat()},
    ).json()
    assert day["resolution"] == "1m" and 1000 < len(day["candles"]) <= 1441
    hour = client.get(
        "/api/v1/candles",
        params={"venue": "replay:binanceus", "from": (now - timedelta(hours=1)).isoformat()},
    ).json()
    # 5 s would fit an hour, but a bar venue has nothing finer than 1 m: the answer says so
    assert hour["resolution"] == "1m" and 55 <= len(hour["candles"]) <= 61
    c = hour["candles"][-1]
    assert c["low"] <= min(c["open"], c["close"]) <= max(c["open"], c["close"]) <= c["high"]
    assert c["low"] <= c["vwap"] <= c["high"]


def test_bad_time_parameters_are_clear_errors(client: TestClient) -> None:
    r = client.get("/api/v1/candles", params={"venue": "x", "from": "2026-01-01T00:00:00"})
    assert r.status_code == 422 and "UTC offset" in r.text
    r = client.get(
        "/api/v1/candles",
        params={"venue": "x", "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    )
    assert r.status_code == 422
    assert client.get("/api/v1/news", params={"limit": 0}).status_code == 422


def test_news_health_updates(client: TestClient, store: Store) -> None:
    news = client.get("/api/v1/news", params={"limit": 10}).json()
    assert len(news["items"]) == 10 and news["seq"] > 0
    assert all(
        i["replay"] and i["sentiment_label"] in {"positive", "negative", "neutral"}
        for i in news["items"]
    )
    times = [i["published_at"] for i in news["items"]]
    assert times == sorted(times, reverse=True)
    health = client.get("/api/v1/health").json()
    names = {s["name"]: s for s in health["sources"]}
    assert names["replay"]["status"] == "up" and names["engine"]["status"] == "up"
    assert health["engine"]["lag"] == 0 and health["status"] == "ok"
    # a live source that fails makes the whole "degraded", even while the replay feeds it
    from btcpulse.store.writes import put_health

    with store.begin() as conn:
        put_health(conn, "coindesk", kind="news", status="down", error="Name or service not known")
    assert client.get("/api/v1/health").json()["status"] == "degraded"
    ups = client.get("/api/v1/updates", params={"since": 0, "limit": 5}).json()
    assert [u["seq"] for u in ups["updates"]] == list(range(ups["first_seq"], ups["first_seq"] + 5))
    assert ups["last_seq"] >= ups["updates"][-1]["seq"]


def test_probes_metrics_docs_and_headers(client: TestClient) -> None:
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").json() == {"ready": True, "checks": {"store": "ok", "bus": "ok"}}
    metrics = client.get("/metrics").text
    assert 'btcpulse_source_up{kind="replay",source="replay"} 1.0' in metrics
    assert 'btcpulse_consumer_lag_messages{consumer="embedded"} 0.0' in metrics
    assert client.get("/openapi.json").json()["info"]["title"] == "btcpulse"
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<div" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


def test_websocket_pushes_new_updates_in_order(
    client: TestClient, settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    with client.websocket_connect("/ws") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["seq"] > 0
        now = datetime.now(UTC)
        item = NewsItem(
            id="ws-test",
            source="test",
            url="https://example.test/a",
            title="Bitcoin ETF inflows surge to record",
            published_at=now,
            fetched_at=now,
        )
        p = bus.producer()
        p.produce(settings.topic_news, encode(item))
        p.flush()
        _process(settings, store, bus)
        msg = ws.receive_json()
        assert msg["type"] == "update" and msg["seq"] == hello["seq"] + 1
        assert msg["key"] == "news:ws-test" and msg["data"]["title"] == item.title
        assert msg["data"]["sentiment_label"] in {"positive", "neutral", "negative"}
    wait_for(lambda: "btcpulse_ws_clients 0.0" in client.get("/metrics").text, 5, "ws client gone")
    assert (
        json.loads(client.get("/api/v1/updates", params={"since": hello["seq"]}).text)["updates"][
            0
        ]["key"]
        == "news:ws-test"
    )


def test_returns_and_realised_volatility(client: TestClient) -> None:
    now = datetime.now(UTC)
    body = client.get(
        "/api/v1/volatility",
        params={"venue": "replay:binanceus", "from": (now - timedelta(hours=6)).isoformat()},
    ).json()
    assert body["resolution_s"] == 60 and body["window"] == 60
    pts = body["points"]
    assert 300 <= len(pts) <= 361
    vols = [p["realised_vol"] for p in pts if p["realised_vol"] is not None]
    assert len(vols) == len(pts)  # the window before the range was read: no cold start
    assert all(v > 0 for v in vols)
    rets = [p["ret"] for p in pts if p["ret"] is not None]
    # minute returns are small; the one exception allowed is the replay's loop seam
    assert len(rets) >= 300 and sum(abs(r) >= 0.05 for r in rets) <= 1

"""News filters (sentiment, text, source list) and the alert rules edited behind the admin token.

Real components: the replay bundle through the embedded bus and engine into SQLite, the FastAPI
app in-process.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from conftest import REPLAY, drain_engine
from fastapi.testclient import TestClient
from pydantic import SecretStr

from btcpulse.analytics.alert_rules import parse_rules
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.collectors.replay.player import ReplayPlayer
from btcpulse.config import Settings
from btcpulse.events import NewsItem, encode
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.web.app import create_app

TOKEN = "s3cret-admin-token"


def _replay(settings: Settings, store: Store, bus: EmbeddedLog) -> None:
    player = ReplayPlayer(load_bundle(REPLAY), settings, bus.producer(), store, speed=60)
    while player.emit_due():
        pass


@pytest.fixture
def client(settings: Settings, store: Store, bus: EmbeddedLog) -> Iterator[TestClient]:
    _replay(settings, store, bus)
    drain_engine(settings, store, bus)
    admin = settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    with TestClient(create_app(admin)) as c:
        yield c


def _news(client: TestClient, **params: object) -> list[dict[str, object]]:
    r = client.get("/api/v1/news", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    items: list[dict[str, object]] = r.json()["items"]
    return items


def test_sentiment_filter_partitions_the_stream(client: TestClient) -> None:
    everything = _news(client)
    assert len(everything) == 50  # the bundle's headlines
    by_label = {
        label: _news(client, sentiment=label) for label in ("positive", "negative", "neutral")
    }
    for label, items in by_label.items():
        assert all(i["sentiment_label"] == label for i in items)
    assert sum(len(v) for v in by_label.values()) == len(everything)
    assert min(len(v) for v in by_label.values()) > 0  # real headlines of every kind
    assert client.get("/api/v1/news", params={"sentiment": "bullish"}).status_code == 422


def test_text_search_any_case_all_words_and_literal_wildcards(client: TestClient) -> None:
    everything = _news(client)
    word = "bitcoin"
    expected = {
        i["id"]
        for i in everything
        if word in (str(i["title"]) + " " + str(i["summary"] or "")).lower()
    }
    assert 0 < len(expected) < len(everything)
    assert {i["id"] for i in _news(client, q="BITCOIN")} == expected
    # two words: both must appear
    title = str(everything[0]["title"])
    first, last = title.split()[0], title.split()[-1]
    both = _news(client, q=f"{first.upper()} {last.lower()}")
    assert everything[0]["id"] in {i["id"] for i in both}
    for i in both:
        text = (str(i["title"]) + " " + str(i["summary"] or "")).lower()
        assert first.lower() in text and last.lower() in text
    # LIKE wildcards are matched literally, not as patterns
    assert _news(client, q="%") == [] or all(
        "%" in str(i["title"]) + str(i["summary"]) for i in _news(client, q="%")
    )
    assert _news(client, q="_") == [] or all(
        "_" in str(i["title"]) + str(i["summary"]) for i in _news(client, q="_")
    )
    assert _news(client, q="zzqx-no-such-word") == []


def test_news_sources_lists_every_source_with_its_count(client: TestClient) -> None:
    sources = client.get("/api/v1/news/sources").json()["sources"]
    assert sources and all(s["replay"] for s in sources)
    assert sum(s["count"] for s in sources) == 50
    name = sources[0]["source"]
    assert len(_news(client, source=name)) == sources[0]["count"]


def test_replay_filter_separates_replayed_and_live_articles(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    """Replay and live are separate worlds: ``replay`` keeps one and leaves out the other."""
    _replay(settings, store, bus)
    now = datetime.now(UTC)
    live = NewsItem(
        id="live-one",
        source="test",
        url="https://example.test/live-one",
        title="Bitcoin miners expand capacity in Texas",
        published_at=now,
        fetched_at=now,
    )
    p = bus.producer()
    p.produce(settings.topic_news, encode(live), key=live.id.encode())
    p.flush()
    drain_engine(settings, store, bus)
    with TestClient(create_app(settings)) as c:
        everything = _news(c)
        replayed = _news(c, replay="true")
        live_only = _news(c, replay="false")
        assert len(everything) == 51
        assert len(replayed) == 50 and all(i["replay"] is True for i in replayed)
        assert all(str(i["source"]).startswith("replay:") for i in replayed)
        assert [i["id"] for i in live_only] == ["live-one"] and live_only[0]["replay"] is False
        assert {i["id"] for i in replayed} | {"live-one"} == {i["id"] for i in everything}
        # combined with the other filters
        replay_source = replayed[0]["source"]
        assert len(_news(c, replay="true", source=replay_source)) > 0
        assert _news(c, replay="false", source=replay_source) == []
        assert c.get("/api/v1/news", params={"replay": "maybe"}).status_code == 422


def test_rules_are_public_to_read_and_need_the_token_to_change(
    client: TestClient, settings: Settings
) -> None:
    body = client.get("/api/v1/alerts/rules").json()
    assert body == {
        "rules": settings.alert_rules,
        "origin": "settings",
        "updated_at": None,
        "writable": True,
    }
    new = {"rules": ["index>80", "move>=1%/30m"]}
    assert client.put("/api/v1/alerts/rules", json=new).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    r = client.put("/api/v1/alerts/rules", json=new, headers=wrong)
    assert r.status_code == 401 and r.json()["detail"] == "a valid admin token is required"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    bad = client.put("/api/v1/alerts/rules", json={"rules": ["index>120"]}, headers=auth)
    assert bad.status_code == 422 and "0 to 100" in bad.json()["detail"]
    assert client.get("/api/v1/alerts/rules").json()["origin"] == "settings"  # unchanged
    ok = client.put("/api/v1/alerts/rules", json=new, headers=auth)
    assert ok.status_code == 200, ok.text
    got = client.get("/api/v1/alerts/rules").json()
    assert got["rules"] == new["rules"] and got["origin"] == "store" and got["updated_at"]


def test_without_an_admin_token_editing_is_disabled(settings: Settings, store: Store) -> None:
    with TestClient(create_app(settings)) as c:
        assert c.get("/api/v1/alerts/rules").json()["writable"] is False
        r = c.put(
            "/api/v1/alerts/rules",
            json={"rules": ["index>80"]},
            headers={"Authorization": "Bearer anything"},
        )
        assert r.status_code == 403 and "disabled" in r.json()["detail"]


def test_the_engine_applies_the_saved_rules(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    """Rules saved through the API replace the settings' rules at the engine's next batch."""
    admin = settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    saved = ["move>=0.5%/15m"]
    with TestClient(create_app(admin)) as c:
        r = c.put(
            "/api/v1/alerts/rules",
            json={"rules": saved},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert r.status_code == 200
    _replay(settings, store, bus)
    drain_engine(settings, store, bus)
    with store.read() as conn:
        fired = {row.rule for row in conn.execute(t.alerts.select())}
    assert fired == {parse_rules(saved)[0].describe()}  # none of the settings' rules fired


def test_the_admin_token_never_shows(settings: Settings) -> None:
    s = Settings(admin_token=TOKEN, _env_file=None)  # type: ignore[arg-type, call-arg]
    assert TOKEN not in repr(s) and TOKEN not in str(s.model_dump())
    assert s.admin_token is not None and s.admin_token.get_secret_value() == TOKEN

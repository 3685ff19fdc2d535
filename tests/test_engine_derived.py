"""Derived analytics through the engine and the API, on the real replay bundle: the sentiment
index with its explanation, topic bursts, news → price impact and alerts; re-processing
gives the same rows."""

from __future__ import annotations

from typing import Any

from conftest import REPLAY, drain_engine
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.collectors.replay.player import ReplayPlayer
from btcpulse.config import Settings
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.web.app import create_app


def _process(settings: Settings, store: Store, bus: EmbeddedLog) -> None:
    drain_engine(settings, store, bus)


def _dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    with store.read() as conn:
        return {
            tb.name: sorted(tuple(r) for r in conn.execute(select(tb)))
            for tb in (t.bursts, t.impacts, t.index_values)
        }


def test_index_bursts_impact_alerts_from_the_replay(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    player = ReplayPlayer(load_bundle(REPLAY), settings, bus.producer(), store, speed=60)
    while player.emit_due():
        pass
    _process(settings, store, bus)
    with TestClient(create_app(settings)) as client:
        index = client.get(
            "/api/v1/index", params={"replay": "true", "from": "2000-01-01T00:00:00Z"}
        ).json()
        latest = index["latest"]
        assert latest is not None and 0 <= latest["value"] <= 100
        assert set(latest["components"]) == {"sentiment", "volume", "momentum", "volatility"}
        assert all(0 <= v <= 100 for v in latest["components"].values())
        assert len(index["series"]) > 1000  # one value per minute of the history
        moved = [s for s in index["series"] if s["n_news"] > 0]
        assert moved and any(abs(s["sentiment"] - 50) > 1 for s in moved)
        assert client.get("/api/v1/index").json()["latest"] is None  # live world: nothing yet

        bursts = client.get(
            "/api/v1/bursts", params={"replay": "true", "from": "2000-01-01T00:00:00Z"}
        ).json()["bursts"]
        assert bursts and {"key", "t", "count", "z"} <= set(bursts[0])
        quarter = client.get("/api/v1/bursts", params={"replay": "true", "resolution_s": 900})
        assert quarter.status_code == 200 and quarter.json()["resolution_s"] == 900
        assert client.get("/api/v1/bursts", params={"resolution_s": 60}).status_code == 422

        by_topic = client.get("/api/v1/impact", params={"replay": "true", "by": "topic"}).json()[
            "rows"
        ]
        assert by_topic and all(r["n"] > 0 for r in by_topic)
        by_source = client.get("/api/v1/impact", params={"replay": "true", "by": "source"}).json()[
            "rows"
        ]
        assert [r["source"] for r in by_source] == ["replay:coindesk"]
        assert by_source[0]["mean_ret_3600s"] is not None

        alerts = client.get("/api/v1/alerts").json()["alerts"]
        assert all(a["replay"] for a in alerts)
        assert len({a["alert_id"] for a in alerts}) == len(alerts)

    first = _dump(store)
    with store.begin() as conn:  # re-process everything: the same derived rows
        conn.execute(delete(t.engine_offsets))
    _process(settings, store, bus)
    assert _dump(store) == first


def test_a_bursting_title_term_is_stored(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    from datetime import UTC, datetime, timedelta

    from btcpulse.events import NewsItem, encode

    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)
    p = bus.producer()
    items = [  # a quiet day, then five headlines about the same name within one hour
        NewsItem(
            id=f"q{h}",
            source="test",
            url=f"https://example.test/q{h}",
            title=f"Markets update number {h}",
            published_at=now - timedelta(hours=h),
            fetched_at=now,
        )
        for h in range(1, 25)
    ] + [
        NewsItem(
            id=f"s{i}",
            source="test",
            url=f"https://example.test/s{i}",
            title=f"Silvergate shares slide as lender reviews options {i}",
            published_at=now + timedelta(minutes=5 * i),
            fetched_at=now,
        )
        for i in range(5)
    ]
    for item in items:
        p.produce(settings.topic_news, encode(item))
    p.flush()
    drain_engine(settings, store, bus)
    with store.read() as conn:
        rows = conn.execute(
            select(t.bursts).where(
                t.bursts.c.key == "term:silvergate", t.bursts.c.resolution_s == 3600
            )
        ).all()
        quiet = conn.execute(select(t.bursts).where(t.bursts.c.key == "term:markets")).all()
    assert rows and max(r.z for r in rows) >= 3.0 and max(r.count for r in rows) == 5
    assert not quiet  # a term that never bursts is not kept

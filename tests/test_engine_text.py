"""Text analytics through the engine: topics and entities stored per article, and the same
story from two outlets, arriving in separate batches, becomes one story with two sources."""

from __future__ import annotations

import json

from conftest import FIXTURES, drain_engine
from fastapi.testclient import TestClient
from sqlalchemy import select

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.news.feeds import parse_feed
from btcpulse.config import Settings
from btcpulse.events import article_id, encode
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.timeutil import utcnow
from btcpulse.web.app import create_app

PAIRS = json.loads((FIXTURES / "story_pairs_2025-12-12.json").read_text())["pairs"]


def _feed(name: str, file: str) -> list:  # type: ignore[type-arg]
    items, bad = parse_feed((FIXTURES / file).read_bytes(), source=name, fetched_at=utcnow())
    assert not bad
    return items


def _run(settings: Settings, store: Store, bus: EmbeddedLog, items: list) -> None:  # type: ignore[type-arg]
    p = bus.producer()
    for i in items:
        p.produce(settings.topic_news, encode(i))
    p.flush()
    drain_engine(settings, store, bus)


def test_same_story_from_two_outlets_in_two_batches(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    _run(settings, store, bus, _feed("theblock", "theblock_rss_2025-12-12.xml"))
    _run(settings, store, bus, _feed("coindesk", "coindesk_rss_2025-12-13.xml"))
    with store.read() as conn:
        story_of = dict(
            conn.execute(select(t.news_stories.c.news_id, t.news_stories.c.story_id)).all()
        )
        stories = {r.story_id: r for r in conn.execute(select(t.stories))}
        tags = {r.news_id: r for r in conn.execute(select(t.news_tags))}
    assert len(story_of) == len(tags) == 19 + 25
    pairs = [(article_id(a), article_id(b)) for a, b in PAIRS]
    joined = sum(story_of[a] == story_of[b] for a, b in pairs)
    assert joined >= len(pairs) - 1, f"{joined} of {len(pairs)} labelled pairs share a story"
    for a, b in pairs:
        if story_of[a] == story_of[b]:
            s = stories[story_of[a]]
            assert s.source_count == 2 and s.first_source in {"theblock", "coindesk"}
    multi = [s for s in stories.values() if s.source_count > 1]
    assert len(multi) <= len(pairs) + 2  # same-day market pieces stay apart
    assert any(json.loads(r.topics) for r in tags.values())
    assert any(json.loads(r.entities) for r in tags.values())

    with TestClient(create_app(settings)) as client:
        top = client.get("/api/v1/stories", params={"min_sources": 2}).json()["stories"]
        assert len(top) == len(multi) and all(s["source_count"] == 2 for s in top)
        items = client.get("/api/v1/news", params={"limit": 100}).json()["items"]
        assert all(i["story_id"] for i in items)
        tagged = [i for i in items if i["topics"]]
        assert tagged and all(isinstance(e["name"], str) for i in items for e in i["entities"])
        one = tagged[0]["topics"][0]
        filtered = client.get("/api/v1/news", params={"topic": one}).json()["items"]
        assert filtered and all(one in i["topics"] for i in filtered)

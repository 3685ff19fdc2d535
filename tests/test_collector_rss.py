"""RSS poller against a local HTTP server serving real feeds: conditional GET, dedupe,
bad input recorded as dead letters, failures shown in health and retried."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from conftest import FIXTURES, REPLAY
from sqlalchemy import select

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.news.feeds import parse_feed
from btcpulse.collectors.news.rss import FeedPoller
from btcpulse.config import Settings
from btcpulse.events import DeadLetter, NewsItem, parse_event
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.timeutil import utcnow

THEBLOCK = (FIXTURES / "theblock_rss_2025-12-12.xml").read_bytes()
COINDESK = (REPLAY / "coindesk_rss_2023-03-13.xml").read_bytes()


class FeedServer(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, str, bytes]]] = {}
    seen_headers: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        self.seen_headers.append(dict(self.headers))
        status, ctype, body = self.routes.get(self.path, (404, "text/plain", b"nope"))
        if self.path == "/etag" and self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/etag":
            self.send_header("ETag", '"v1"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    FeedServer.routes = {
        "/etag": (200, "application/rss+xml", THEBLOCK),
        "/coindesk": (200, "application/rss+xml", COINDESK),
        "/html": (200, "text/html", b"<html><body><h1>Not a feed</h1></body></html>"),
        "/truncated": (200, "application/rss+xml", COINDESK[: len(COINDESK) // 3]),
        "/down": (503, "text/plain", b"maintenance"),
    }
    FeedServer.seen_headers = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FeedServer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _consume(settings: Settings, bus: EmbeddedLog) -> list[NewsItem | DeadLetter]:
    c = bus.consumer("check")
    c.subscribe([settings.topic_news, settings.topic_deadletters])
    out = []
    for m in c.poll(0.5, 10_000):
        ev = parse_event(m.value)
        assert isinstance(ev, NewsItem | DeadLetter)
        out.append(ev)
    return out


async def _poll(p: FeedPoller) -> int:
    async with httpx.AsyncClient(timeout=5) as client:
        return await p.poll_once(client)


def test_real_feed_parses_with_times_entities_and_ids() -> None:
    items, bad = parse_feed(THEBLOCK, source="theblock", fetched_at=utcnow())
    assert len(items) == 19 and not bad
    assert all(i.published_at.tzinfo is not None for i in items)
    assert not any("&#8217;" in i.title for i in items)  # entities decoded
    assert len({i.id for i in items}) == 19


def test_conditional_get_and_no_repeats(
    settings: Settings, store: Store, bus: EmbeddedLog, server: str
) -> None:
    p = FeedPoller("theblock", f"{server}/etag", settings, bus.producer(), store)
    assert asyncio.run(_poll(p)) == 19
    assert asyncio.run(_poll(p)) == 0  # 304 Not Modified
    assert FeedServer.seen_headers[-1].get("If-None-Match") == '"v1"'
    # a restarted poller remembers the ETag and the items it already produced
    p2 = FeedPoller("theblock", f"{server}/etag", settings, bus.producer(), store)
    assert p2.etag == '"v1"'
    FeedServer.routes["/etag2"] = (200, "application/rss+xml", THEBLOCK)
    p2.url = f"{server}/etag2"
    assert asyncio.run(_poll(p2)) == 0
    got = _consume(settings, bus)
    assert len(got) == 19 and all(isinstance(g, NewsItem) for g in got)


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/html", "not a usable feed"), ("/down", "503"), ("/truncated", None)],
)
def test_bad_feeds_are_recorded_and_never_raise_out_of_run(
    settings: Settings, store: Store, bus: EmbeddedLog, server: str, path: str, reason: str | None
) -> None:
    p = FeedPoller("bad", server + path, settings, bus.producer(), store)
    stop = asyncio.Event()

    async def one_round() -> None:
        task = asyncio.create_task(p.run(stop))
        for _ in range(200):  # until the first poll is recorded in health
            await asyncio.sleep(0.02)
            with store.read() as conn:
                if conn.execute(
                    select(t.source_health).where(t.source_health.c.name == "bad")
                ).first():
                    break
        stop.set()
        await task

    asyncio.run(one_round())
    with store.read() as conn:
        h = conn.execute(select(t.source_health).where(t.source_health.c.name == "bad")).one()
    got = _consume(settings, bus)
    if reason is None:  # a truncated feed still yields the items before the cut
        assert h.status == "up"
        assert 0 < sum(isinstance(g, NewsItem) for g in got) < 50
    else:
        assert h.status == "down" and reason in (h.last_error_reason or "")
        assert "retry in" in (h.detail or "")


def test_an_empty_dc_description_does_not_hide_the_description() -> None:
    body = (FIXTURES / "coindesk_rss_2025-12-13.xml").read_bytes()
    assert b"<dc:description/>" in body or b"<dc:description></dc:description>" in body
    items, _ = parse_feed(body, source="coindesk", fetched_at=utcnow())
    assert len(items) == 25 and all(i.summary for i in items)

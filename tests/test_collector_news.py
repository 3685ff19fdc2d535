"""The news pollers against local HTTP servers serving real feeds (and the Reddit/HN fixtures):
items land in the store once, the second poll is conditional and gets 304, a restart produces
nothing again, a hanging source does not hold up the others, and every broken input is
recorded with its source and reason."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import FIXTURES, REPLAY, drain_engine, free_port, wait_for
from news_server import NewsServer, news_server
from sqlalchemy import func, select

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.news.poller import PollOutcome, SourcePoller, run_sources
from btcpulse.collectors.news.registry import Source
from btcpulse.config import Settings
from btcpulse.events import DeadLetter, NewsItem, parse_event
from btcpulse.store import queries
from btcpulse.store import schema as t
from btcpulse.store.db import Store

THEBLOCK = (FIXTURES / "theblock_rss_2025-12-12.xml").read_bytes()
COINDESK = (FIXTURES / "coindesk_rss_2025-12-13.xml").read_bytes()
COINDESK_2023 = (REPLAY / "coindesk_rss_2023-03-13.xml").read_bytes()
REDDIT = (FIXTURES / "reddit_r_bitcoin_new.json").read_bytes()
HN = (FIXTURES / "hn_algolia_search_by_date_bitcoin.json").read_bytes()
PANIC = (FIXTURES / "cryptopanic_v1_posts_btc.json").read_bytes()
JSON = "application/json; charset=utf-8"


@pytest.fixture
def server() -> Iterator[NewsServer]:
    with news_server() as srv:
        yield srv


def _settings(settings: Settings, **kw: object) -> Settings:
    return settings.model_copy(update=kw)


@contextmanager
def running(
    sources: list[Source], settings: Settings, bus: EmbeddedLog, store: Store
) -> Iterator[None]:
    """``run_sources`` in its own thread and event loop, stopped (and joined) on exit."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(run_sources(sources, settings, bus.producer(), store, stop),),
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        assert not thread.is_alive(), "run_sources did not stop within 10 s"
        loop.close()


def _on_bus(settings: Settings, bus: EmbeddedLog) -> list[NewsItem | DeadLetter]:
    c = bus.consumer(f"check-{free_port()}")
    c.subscribe([settings.topic_news, settings.topic_deadletters])
    out = []
    while batch := c.poll(0.2, 10_000):
        for m in batch:
            ev = parse_event(m.value)
            assert isinstance(ev, NewsItem | DeadLetter)
            out.append(ev)
    return out


def _news(settings: Settings, bus: EmbeddedLog) -> list[NewsItem]:
    return [e for e in _on_bus(settings, bus) if isinstance(e, NewsItem)]


def _errors(store: Store) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with store.read() as conn:
        for r in conn.execute(select(t.errors.c.source, t.errors.c.reason)):
            out.setdefault(r.source, []).append(r.reason)
    return out


def _health(store: Store) -> dict[str, dict[str, object]]:
    with store.read() as conn:
        return {h["name"]: h for h in queries.health(conn)["sources"]}


def test_items_land_once_second_poll_gets_304_restart_collects_nothing_new(
    settings: Settings, store: Store, bus: EmbeddedLog, server: NewsServer
) -> None:
    lm = "Sat, 13 Dec 2025 10:00:00 GMT"
    sources = [
        Source(name="theblock", url=server.add("/tb", body=THEBLOCK, etag='"tb-1"'), interval_s=1),
        Source(
            name="coindesk", url=server.add("/cd", body=COINDESK, last_modified=lm), interval_s=1
        ),
        Source(
            name="reddit",
            kind="reddit",
            url=server.add("/r.json", body=REDDIT, ctype=JSON),
            interval_s=1,
        ),
        Source(name="hn", kind="hn", url=server.add("/hn", body=HN, ctype=JSON), interval_s=1),
    ]
    with running(sources, settings, bus, store):
        wait_for(
            lambda: all(len(server.hits_of(p)) >= 3 for p in ("/tb", "/cd", "/r.json", "/hn")),
            30,
            "three polls of each source",
        )
    tb, cd = server.hits_of("/tb"), server.hits_of("/cd")
    assert tb[0].status == 200 and "If-None-Match" not in tb[0].headers
    assert tb[1].headers["If-None-Match"] == '"tb-1"' and tb[1].status == 304
    assert cd[1].headers["If-Modified-Since"] == lm and cd[1].status == 304
    assert "btcpulse" in tb[0].headers["User-Agent"]
    produced = _news(settings, bus)
    # 19 + 25 RSS items, 28 Reddit posts - 1 without a title, 20 HN hits - 1 without a title:
    # each produced once although Reddit and HN answered 200 to every poll
    per_source = {s.name: sum(e.source == s.name for e in produced) for s in sources}
    assert per_source == {"theblock": 19, "coindesk": 25, "reddit": 27, "hn": 19}

    # a restart (new pollers, same store) produces nothing again
    before = {p: len(server.hits_of(p)) for p in ("/tb", "/cd", "/r.json", "/hn")}
    with running(sources, settings, bus, store):
        wait_for(
            lambda: all(len(server.hits_of(p)) > before[p] for p in before),
            30,
            "polls after restart",
        )
    assert server.hits_of("/tb")[before["/tb"]].status == 304  # the ETag survived the restart
    assert len(_news(settings, bus)) == len(produced)

    # stored once: the Reddit link to The Block's Juventus story is the same article
    drain_engine(settings, store, bus)
    with store.read() as conn:
        stored = conn.execute(select(func.count()).select_from(t.news)).scalar_one()
        authors = dict(
            conn.execute(
                select(t.news.c.source, t.news.c.author).where(t.news.c.source == "theblock")
            ).all()
        )
    assert stored == len({e.id for e in produced}) == 19 + 25 + 27 + 19 - 1
    assert authors["theblock"]
    errors = _errors(store)
    assert any("without a title" in r for r in errors["reddit"])
    assert any("without a title" in r for r in errors["hn"])
    health = _health(store)
    for s in sources:
        h = health[s.name]
        assert h["status"] == "up" and h["next_poll_at"] and h["last_success"], h
    assert health["theblock"]["metrics"]["items_per_hour"] == 19  # type: ignore[index]
    assert health["theblock"]["items_total"] == 19


def test_every_broken_input_is_recorded_with_its_reason_and_the_good_source_goes_on(
    settings: Settings, store: Store, bus: EmbeddedLog, server: NewsServer
) -> None:
    s = _settings(settings, http_timeout_s=0.5, news_max_body_bytes=200_000, news_max_redirects=3)
    big = COINDESK_2023 * 4  # 330 kB of real feed
    cases = {  # name: (source, reason recorded, status shown in health)
        "good": (server.add("/good", body=THEBLOCK), None, "up"),
        "truncated": (
            server.add("/trunc", body=COINDESK_2023[: len(COINDESK_2023) // 3]),
            "malformed feed, 17 entries kept",
            "up",
        ),
        "encoding": (
            server.add("/cp1252", body=COINDESK_2023.decode().encode("cp1252", "replace")),
            "declared as utf-8, but parsed as windows-1252",
            "up",
        ),
        "garbage": (
            server.add("/garbage", body=b"\x00\xff garbage \x89PNG"),
            "not well-formed",
            "down",
        ),
        "html": (
            server.add(
                "/html",
                body=b"<!doctype html><html><body>Just a moment...</body></html>",
                ctype="text/html",
            ),
            "an HTML page (Content-Type text/html)",
            "down",
        ),
        "notfound": (server.base + "/missing", "HTTP 404", "down"),
        "unavailable": (
            server.add("/down", status=503, retry_after="120", body=b"maintenance"),
            "HTTP 503",
            "down",
        ),
        "hangs": (server.add("/hang", body=THEBLOCK, hang=threading.Event()), "timeout", "down"),
        "loop": (
            server.add("/loop", status=302, location="/loop"),
            "too many redirects (more than 3)",
            "down",
        ),
        "big": (server.add("/big", body=big), "body too large: Content-Length", "down"),
        "bigstream": (
            server.add("/bigstream", body=big, send_length=False),
            "more than 200000 bytes (download aborted)",
            "down",
        ),
        "refused": (f"http://127.0.0.1:{free_port()}/feed", "connection failed", "down"),
    }
    sources = [Source(name=n, url=u, interval_s=600) for n, (u, _, _) in cases.items()]
    sources.append(
        Source(
            name="reddit-html",
            kind="reddit",
            url=server.add("/rh", body=b"<html>blocked</html>", ctype="text/html"),
            interval_s=600,
        )
    )
    cases["reddit-html"] = ("", "not a usable JSON answer: an HTML page", "down")
    with running(sources, s, bus, store):
        wait_for(lambda: len(_health(store)) == len(sources), 30, "a first poll of every source")
    errors, health = _errors(store), _health(store)
    for name, (_, reason, status) in cases.items():
        h = health[name]
        assert h["status"] == status, (name, h)
        if reason is None:
            assert name not in errors
            continue
        assert any(reason in r for r in errors.get(name, [])), (name, errors.get(name))
        if status == "down":
            assert reason in str(h["last_error_reason"]) and "retry in" in str(h["detail"]), h
    assert health["unavailable"]["next_poll_at"] > health["good"]["updated_at"]  # type: ignore[operator]
    got = _on_bus(settings, bus)
    assert sum(isinstance(e, NewsItem) and e.source == "good" for e in got) == 19
    assert sum(isinstance(e, NewsItem) and e.source == "encoding" for e in got) == 50
    letters = {e.source for e in got if isinstance(e, DeadLetter)}
    assert {"truncated", "encoding", "garbage", "html", "reddit-html"} <= letters


def test_a_hanging_source_does_not_hold_up_the_others(
    settings: Settings, store: Store, bus: EmbeddedLog, server: NewsServer
) -> None:
    s = _settings(settings, http_timeout_s=30)
    release = threading.Event()
    hang = server.add("/hang", body=THEBLOCK, hang=release)
    good = server.add("/good", body=COINDESK)
    sources = [
        Source(name="slow", url=hang, interval_s=60),
        Source(name="fast", url=good, interval_s=60),
    ]
    with running(sources, s, bus, store):
        wait_for(lambda: server.routes["/hang"].entered.is_set(), 10, "the slow request")
        wait_for(lambda: len(_news(settings, bus)) == 25, 10, "the fast source's items")
        # the fast source's items are in while the slow source is still waiting for its answer
        assert not server.routes["/hang"].answered.is_set() and not release.is_set()
    # and stopping did not wait for the slow request's 30 s timeout (running() joins in 10 s)
    assert "slow" not in _health(store)  # cancelled mid-fetch: nothing half-recorded


def test_backoff_is_jittered_exponential_and_honours_retry_after(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    p = SourcePoller(
        Source(name="x", url="https://e.org/f", interval_s=60), settings, bus.producer(), store
    )
    fail = PollOutcome("x", error="HTTP 500")
    delays = [p.next_delay(fail) for _ in range(8)]
    ceilings = [min(900.0, 30.0 * 2**i) for i in range(8)]
    assert all(15.0 <= d <= c for d, c in zip(delays, ceilings, strict=True)), delays
    assert max(delays) > 60
    assert p.next_delay(PollOutcome("x", error="HTTP 429", retry_after=600)) >= 600
    ok = p.next_delay(PollOutcome("x"))
    assert 54 <= ok <= 66 and p.backoff.attempts == 0


def test_a_token_source_sends_its_token_and_never_records_it(
    settings: Settings,
    store: Store,
    bus: EmbeddedLog,
    server: NewsServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BTCPULSE_TEST_PANIC_TOKEN", "s3cr3t-t0ken")
    url = server.add("/api/v1/posts/", body=PANIC, ctype=JSON)
    src = Source(
        name="cryptopanic",
        kind="cryptopanic",
        url=url + "?currencies=BTC",
        token_env="BTCPULSE_TEST_PANIC_TOKEN",
    )
    p = SourcePoller(src, settings, bus.producer(), store)

    async def poll() -> PollOutcome:
        import httpx

        async with httpx.AsyncClient(timeout=5) as client:
            return await p.poll_once(client)

    out = asyncio.run(poll())
    assert out.ok and out.new == 10
    assert server.hits_of("/api/v1/posts/")[0].path.endswith(
        "?currencies=BTC&auth_token=s3cr3t-t0ken"
    )
    server.routes["/api/v1/posts/"].status = 403
    out = asyncio.run(poll())
    p.report(out, 60.0)
    assert out.error == "HTTP 403 Forbidden"
    with store.read() as conn:
        rows = [tuple(r) for r in conn.execute(select(t.errors))] + [
            tuple(r) for r in conn.execute(select(t.source_health))
        ]
    assert rows and "s3cr3t" not in repr(rows)


def test_collect_news_once_feed_reports_what_it_produced(
    settings: Settings, server: NewsServer, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from conftest import child_env

    url = server.add("/feed", body=THEBLOCK, etag='"v1"')

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "btcpulse", "collect", "news", "--once", *args],
            env=child_env(settings, COLUMNS="200"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    first = cli("--feed", f"tb={url}")
    assert first.returncode == 0, first.stderr
    assert "19 parsed, 19 new" in first.stdout and "total: 19 new items" in first.stdout
    second = cli("--feed", f"tb={url}")
    assert second.returncode == 0 and "not modified (304)" in second.stdout
    down = cli("--feed", server.add("/down", status=503), "--feed", url)
    assert down.returncode == 0 and "FAILED: HTTP 503" in down.stdout  # one source answered
    only_down = cli("--feed", server.base + "/down")
    assert only_down.returncode == 1 and "from 0/1 sources" in only_down.stdout
    assert cli("--source", "no-such-source").returncode == 2

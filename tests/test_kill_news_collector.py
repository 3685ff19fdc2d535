"""Kill test of the news collector: ``btcpulse collect news --no-articles --feed feed=URL``
(a real subprocess, embedded mode, polling every second) against a local outlet whose RSS feed
gains stories while the collector runs *and* while it is dead, SIGKILLed at random moments (a
seeded schedule, printed: ``BTCPULSE_CHAOS_SEED`` replays it; ``BTCPULSE_KILLS=N`` sets the
number of kills) and restarted each time; a last run fetches what is left and stops on SIGTERM.

The feed keeps every story it ever published (no scrolling out), with an ETag, so a restart
must fetch what appeared while it was dead. Then every story is on the bus (duplicates allowed:
a kill between the bus flush and the saved state re-sends a poll's items; they are counted) and
in the store's ``news`` table exactly once. The store is compared with a clean run (one
collector, no kill, the same final feed, drained the same way) on every compared table, the
derived ones too (tags, stories, bursts...): both engines drain the bus after the collector
stopped, in one batch (``engine_max_batch`` is larger than the feed), so fetch timing cannot
change what they derive; only the bus copies (deduplicated by id) differ.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from chaos import Proc, kills, open_world, record, seed, store_diff, totals, world_env
from chaos import until_progress as until
from chaos import world_settings as world
from conftest import drain_engine
from news_server import NewsServer, Route, news_server
from sqlalchemy import select

from btcpulse.bus.embedded import EmbeddedLog, topic_sizes
from btcpulse.config import Settings
from btcpulse.events import NewsItem, parse_event
from btcpulse.store import schema as tbl
from btcpulse.store.db import Store

pytestmark = pytest.mark.slow

WHO = ["Bitcoin", "Spot bitcoin ETFs", "Bitcoin miners", "BTC options traders", "Whales"]
WHAT = [
    "rally as inflows hit a record near ${p}",
    "slide after the Fed signals no cut, BTC at ${p}",
    "shrug off exchange outage; price holds ${p}",
    "face a liquidation cascade below ${p}",
    "cheer the halving narrative with BTC at ${p}",
    "brace for CPI data as bitcoin trades at ${p}",
    "pull back from ${p} as the dollar firms",
]
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=8)


def _item(i: int) -> str:
    url = f"https://news.example.org/2026/markets/story-{i}"
    title = f"{WHO[i % len(WHO)]} {WHAT[i % len(WHAT)].replace('{p}', f'{60_000 + 37 * i:,}')}"
    return (
        f"<item><title>{title}</title><link>{url}</link><guid>{url}</guid>"
        f"<pubDate>{format_datetime(BASE + timedelta(seconds=20 * i))}</pubDate>"
        f"<description>{title}. Analysts weigh what it means for bitcoin.</description></item>"
    )


def _rss(n: int) -> bytes:
    body = "".join(_item(i) for i in reversed(range(n)))  # newest first, all of them
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Local outlet</title><link>https://news.example.org/</link>"
        f"<description>markets</description>{body}</channel></rss>"
    ).encode()


def _url(i: int) -> str:
    return f"https://news.example.org/2026/markets/story-{i}"


class Outlet:
    """The feed at ``/feed.xml``: ``publish(k)`` adds stories; a thread publishes one every
    0.05-0.6 s while it is started (while the collector runs and while it is dead)."""

    def __init__(self, srv: NewsServer, rng: random.Random) -> None:
        self.srv, self.rng, self.n = srv, rng, 0
        self.lock, self.halt = threading.Lock(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.url = srv.add("/feed.xml", body=_rss(0), etag='"0"')

    def publish(self, k: int) -> int:
        with self.lock:
            self.n += k
            self.srv.routes["/feed.xml"] = Route(body=_rss(self.n), etag=f'"{self.n}"')
            return self.n

    def _run(self) -> None:
        while not self.halt.wait(self.rng.uniform(0.05, 0.6)):
            self.publish(1)

    def stop(self) -> int:
        self.halt.set()
        self.thread.join(10)
        return self.n


def news_on_bus(s: Settings) -> int:
    return topic_sizes(s.resolved_bus_path).get(s.topic_news, 0)


def grown(s: Settings, n: int) -> Callable[[], bool]:
    return lambda: news_on_bus(s) >= n


def bus_urls(s: Settings, bus: EmbeddedLog) -> Counter[str]:
    consumer = bus.consumer(f"verify-{time.monotonic_ns()}")
    consumer.subscribe([s.topic_news])
    seen: Counter[str] = Counter()
    while msgs := consumer.poll(0.1, 50_000):
        for m in msgs:
            if isinstance(ev := parse_event(m.value), NewsItem):
                seen[ev.url] += 1
    consumer.close()
    return seen


def stored_urls(store: Store) -> Counter[str]:
    with store.read() as conn:
        return Counter(str(u) for u in conn.execute(select(tbl.news.c.url)).scalars())


def _env(s: Settings) -> dict[str, str]:
    return world_env(s, BTCPULSE_NEWS_POLL_INTERVAL_S="1", BTCPULSE_HTTP_TIMEOUT_S="3")


def _args(url: str) -> list[str]:
    return ["collect", "news", "--no-articles", "--feed", f"feed={url}"]


def _clean(root: Path, n: int) -> Store:
    """The same ``n`` stories through one collector run without a kill, then the engine."""
    s = world(root)
    store, bus = open_world(s)
    with news_server() as srv:
        url = srv.add("/feed.xml", body=_rss(n), etag=f'"{n}"')
        proc = Proc(_args(url), _env(s), root / "clean.log")
        try:
            until(lambda: news_on_bus(s) >= n, proc, 60, f"{n} stories (clean)", poll=0.1)
            assert proc.stop() == 0, proc.tail()
        finally:
            proc.kill()
    drain_engine(s, store, bus)
    return store


@pytest.mark.timeout(1800)  # the long variant (BTCPULSE_KILLS)
def test_news_collector_killed_at_random_moments_stores_every_story_once(
    tmp_path: Path,
) -> None:
    n_kills, rng_seed = kills(20), seed()
    rng = random.Random(rng_seed)
    print(f"seed {rng_seed}, {n_kills} kills")
    s = world(tmp_path / "killed")
    store, bus = open_world(s)
    log = tmp_path / "news.log"
    schedule: list[dict[str, Any]] = []
    with news_server() as srv:
        outlet = Outlet(srv, random.Random(rng_seed + 1))
        outlet.publish(rng.randint(1, 10))
        outlet.thread.start()
        args, env = _args(outlet.url), _env(s)
        proc = None
        try:
            t0 = time.monotonic()
            for i in range(n_kills):
                before = news_on_bus(s)
                proc = Proc(args, env, log)
                if rng.random() < 0.3:  # anywhere: start-up, first fetch, produce, save, idle
                    mode, delay = "time", rng.uniform(0.2, 4.0)
                    time.sleep(delay)
                else:  # after progress: stories reached the bus since this start
                    mode, delay = "progress", rng.uniform(0.0, 1.2)
                    step = rng.randint(1, 6)
                    until(grown(s, before + step), proc, 60, f"{before + step} on the bus")
                    time.sleep(delay)
                proc.kill()
                gone = rng.randint(0, 12)  # a burst published while it is dead
                schedule.append(
                    {
                        "kill": i + 1,
                        "mode": mode,
                        "delay_s": round(delay, 2),
                        "after_s": round(proc.age, 2),
                        "news_on_bus": news_on_bus(s),
                        "published": outlet.publish(gone),
                        "burst_while_dead": gone,
                    }
                )
            killing_s = time.monotonic() - t0
            proc = Proc(args, env, log)
            published = outlet.stop()
            want = {_url(i) for i in range(published)}

            def missing() -> list[str]:
                return sorted(want - bus_urls(s, bus).keys())

            until(lambda: not missing(), proc, 90, lambda: f"missing {missing()[:10]}", poll=0.2)
            assert proc.stop() == 0, proc.tail()
        finally:
            outlet.halt.set()
            if proc is not None and proc.alive():
                proc.kill()
    seen = bus_urls(s, bus)
    drain_engine(s, store, bus)
    stored = stored_urls(store)
    clean = _clean(tmp_path / "clean", published)
    diff = store_diff(clean, store)
    sums = totals(diff)
    record(
        "kill_news_collector",
        {
            "command": "pytest tests/test_kill_news_collector.py",
            "seed": rng_seed,
            "kills": n_kills,
            "items_published": published,
            "bus_messages": sum(seen.values()),
            "bus_items": len(seen),
            "bus_duplicates": sum(seen.values()) - len(seen),
            "lost": len(want - seen.keys()),
            "extra": len(seen.keys() - want),
            "stored": sum(stored.values()),
            "stored_lost": len(want - stored.keys()),
            "stored_duplicated": sum(stored.values()) - len(stored),
            "lost_rows": sums["lost"],
            "duplicated_rows": sums["dup"],
            "changed_rows": sums["changed"],
            "rows_compared": sums["rows"],
            "killing_s": round(killing_s, 1),
            "tables": diff,
            "schedule": schedule,
        },
    )
    assert seen.keys() == want  # every story ever published reached the bus
    assert stored.keys() == want and max(stored.values()) == 1  # and the store, once
    assert stored_urls(clean).keys() == want
    assert sums["lost"] == 0 and sums["dup"] == 0 and sums["changed"] == 0, diff

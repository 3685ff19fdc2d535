"""Fault tests (embedded mode): a news source down then back, a venue sending garbage between
valid frames, PostgreSQL stopped during the stream. Each: nothing lost, health shows the fault
while it lasts, everything recovers on its own; figures in ``tests/artifacts/reliability/``.

CI uses short outages; ``BTCPULSE_LONG=1`` runs the long variants (a news source down for 3
minutes). The bus partition (distributed mode) is in ``test_faults_bus.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from chaos import (
    Proc,
    VenueThread,
    applied,
    clean_replay,
    health_row,
    long_run,
    open_world,
    record,
    replay_events,
    store_diff,
    stored_events,
    totals,
    world_env,
    world_settings,
)
from chaos import until_progress as until
from conftest import REPLAY, _service_or_skip, drain_engine, free_port
from news_server import news_server
from sqlalchemy import select
from tcp_proxy import TcpProxy

from btcpulse.bus.embedded import EmbeddedLog, topic_sizes
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.config import Settings
from btcpulse.events import DeadLetter, parse_event
from btcpulse.store import queries
from btcpulse.store import schema as tbl
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state
from btcpulse.testing.fake_exchange import FakeExchange, Faults, synthetic_tape
from btcpulse.testing.services import Postgres, start_postgres

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------- a news source down


def _rss(items: range, now: datetime) -> bytes:
    def item(i: int) -> str:
        when = format_datetime(now - timedelta(minutes=100 - i))
        url = f"https://news.example.org/2026/bitcoin-story-{i}"
        return (
            f"<item><title>Bitcoin story number {i} moves markets</title><link>{url}</link>"
            f"<guid>{url}</guid><pubDate>{when}</pubDate>"
            f"<description>Story {i} about bitcoin.</description></item>"
        )

    body = "".join(item(i) for i in reversed(items))
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Local outlet</title><link>https://news.example.org/</link>"
        f"<description>test feed</description>{body}</channel></rss>"
    ).encode()


def _source(store: Store) -> dict[str, Any] | None:
    with store.read() as conn:
        h = queries.health(conn)
    return next((x for x in h["sources"] if x["name"] == "localfeed"), None)


@pytest.mark.timeout(1800)  # the long variant (BTCPULSE_KILLS / BTCPULSE_LONG)
def test_news_source_down_then_back_loses_nothing(tmp_path: Path) -> None:
    outage_s = 180.0 if long_run() else 20.0  # longer than a backoff step (<= 16 s here)
    s = world_settings(tmp_path / "w")
    store, bus = open_world(s)
    now = datetime.now(UTC)
    with news_server() as srv, TcpProxy(srv.httpd.server_address[1]) as proxy:
        srv.add("/feed.xml", body=_rss(range(0, 10), now))
        registry = tmp_path / "sources.yaml"
        registry.write_text(
            "include_defaults: false\nsources:\n"
            f"  - {{name: localfeed, kind: rss, url: 'http://{proxy.address}/feed.xml',"
            " interval_s: 1}\n"
        )
        env = world_env(s, BTCPULSE_NEWS_SOURCES_FILE=str(registry), BTCPULSE_HTTP_TIMEOUT_S="2")
        proc = Proc(["collect", "news", "--no-articles"], env, tmp_path / "news.log")
        try:
            until(lambda: (x := _source(store)) and x["status"] == "up", proc, 60, "source up")
            # Down: first the server answers 503, then it refuses connections; meanwhile the
            # outlet publishes ten new stories.
            srv.routes["/feed.xml"].status = 503
            down_at = time.monotonic()
            seen: dict[str, str] = {}

            def refused_seen() -> bool:
                return any("503" not in r for r in seen)

            def watch(until_s: float, refused: bool = False) -> None:
                """Record the health row's reasons for ``until_s``; with ``refused``, go on (up to
                60 s more) until a poll of the refused phase has been recorded: the backoff may
                space the polls beyond the outage's planned length."""
                while (elapsed := time.monotonic() - down_at) < until_s or (
                    refused and not refused_seen() and elapsed < until_s + 60
                ):
                    x = _source(store)
                    if x and x["status"] == "down":
                        seen.setdefault(str(x["last_error_reason"])[:60], f"{_since(down_at)}")
                    assert proc.alive(), proc.tail()
                    time.sleep(0.2)

            watch(min(outage_s / 2, 8.0))  # a few polls, before the backoff spaces them out
            proxy.cut()
            watch(outage_s, refused=True)
            srv.routes["/feed.xml"] = type(srv.routes["/feed.xml"])(body=_rss(range(5, 20), now))
            proxy.restore()
            back_at = time.monotonic()
            until(lambda: (x := _source(store)) and x["status"] == "up", proc, 600, "back up")
            recovered_s = time.monotonic() - back_at
            assert proc.stop() == 0, proc.tail()
        finally:
            if proc.alive():
                proc.kill()
    drain_engine(s, store, bus)
    with store.read() as conn:
        titles = sorted(conn.execute(select(tbl.news.c.title)).scalars())
        fetch_errors = conn.execute(
            select(tbl.errors.c.reason).where(tbl.errors.c.stage == "fetch")
        ).all()
    want = sorted(f"Bitcoin story number {i} moves markets" for i in range(20))
    record(
        "fault_news_source_down",
        {
            "command": "pytest tests/test_faults.py -k news_source",
            "outage_s": outage_s,
            "health_seen_down": seen,
            "fetch_errors_recorded": len(fetch_errors),
            "recovered_s_after_outage": round(recovered_s, 1),
            "items": len(want),
            "stored": len(titles),
            "lost": len(set(want) - set(titles)),
            "duplicated": len(titles) - len(set(titles)),
        },
    )
    assert any("503" in r for r in seen), seen  # the 503 phase, with its reason
    assert any("503" not in r for r in seen), seen  # the refused phase
    assert titles == want  # the ten published during the outage included, each once
    assert len(fetch_errors) >= 2


def _since(t0: float) -> str:
    return f"{time.monotonic() - t0:.1f}s"


# --------------------------------------------------------------------- a venue sending garbage

GARBAGE = [  # each a different way to be broken; the index keeps each frame distinct
    "\x00\xff not json at all {i}",
    '{{"channel":"trade","type":"update","data":[{{"symbol":"BTC/USD","price":{i}}}]}}',
    '{{"channel": "trade", "type": "update", "n": {i}, "data": [',
    '[{i}, [["abc", "1", "x", "b", "m", ""]], "trade", "XBT/USD"]',
    '{{"channel":"trade","type":"update","data":[{{"symbol":"BTC/USD","side":"buy",'
    '"price":"1","qty":"1","ord_type":"market","trade_id":{i},"timestamp":"x"}}]}}',
]


def test_venue_sending_garbage_keeps_every_valid_trade(tmp_path: Path) -> None:
    n = 400
    tape = synthetic_tape(n)
    garbage = {i: GARBAGE[k % len(GARBAGE)].format(i=i) for k, i in enumerate(range(3, n, 11))}
    fake = FakeExchange("kraken", tape=tape, faults=Faults(garbage=garbage), interval_s=0.005)
    s = world_settings(tmp_path / "w")
    store, bus = open_world(s)
    with VenueThread(fake) as venue:
        args = ["collect", "prices", "--venue", "kraken", "--symbol", "BTC-USD"]
        args += ["--url", fake.ws_url, "--rest-url", fake.rest_url]
        proc = Proc(args, world_env(s), tmp_path / "prices.log")
        try:
            until(lambda: venue.call(lambda: fake.done), proc, 120, "the whole tape sent")
            letters_bus = _wait_letters(s, bus, len(garbage), proc)
            until(lambda: (r := health_row(store, "kraken")) and r.status == "up", proc, 30, "up")
            row = health_row(store, "kraken")
            assert proc.stop() == 0, proc.tail()
        finally:
            if proc.alive():
                proc.kill()
    drain_engine(s, store, bus)
    with store.read() as conn:
        trades = conn.execute(select(tbl.trades.c.trade_id, tbl.trades.c.price)).all()
        errors = conn.execute(select(tbl.errors.c.source, tbl.errors.c.reason)).all()
    ids = sorted(int(x.trade_id) for x in trades)
    record(
        "fault_venue_garbage",
        {
            "command": "pytest tests/test_faults.py -k garbage",
            "valid_trades": n,
            "garbage_frames": len(garbage),
            "stored_trades": len(ids),
            "lost_trades": len({x.trade_id for x in tape} - set(ids)),
            "dead_letters_on_bus": len(letters_bus),
            "error_rows": len(errors),
            "health": row.status if row else None,
        },
    )
    assert ids == [x.trade_id for x in tape]
    assert [float(x.price) for x in sorted(trades, key=lambda r: int(r.trade_id))] == [
        float(x.price) for x in tape
    ]
    assert len(letters_bus) == len(garbage) == len(errors)
    assert all(e.source == "kraken" and e.reason.startswith("malformed frame") for e in errors)
    assert row is not None and row.status == "up"


def _wait_letters(s: Settings, bus: EmbeddedLog, n: int, proc: Proc) -> list[DeadLetter]:
    got: list[DeadLetter] = []
    consumer = bus.consumer("check-letters")
    consumer.subscribe([s.topic_deadletters])

    def more() -> bool:
        for m in consumer.poll(0.1, 10_000):
            if isinstance(ev := parse_event(m.value), DeadLetter):
                got.append(ev)
        return len(got) >= n

    until(more, proc, 60, f"{n} dead letters")
    return got


# --------------------------------------------------------------------- PostgreSQL stopped


@pytest.fixture
def own_pg() -> Iterator[Postgres]:
    """A PostgreSQL cluster of this test's own, since the test stops it."""
    root = Path(tempfile.mkdtemp(prefix="btcpulse-pgfault-"))
    try:
        pg = start_postgres(root)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        _service_or_skip("PostgreSQL", exc)
        raise
    yield pg
    pg.stop()
    shutil.rmtree(root, ignore_errors=True)


def _pg_start(pg: Postgres) -> None:
    """Start the stopped cluster again, on its port (as ``start_postgres`` did)."""
    root = pg.datadir.parent
    opts = f"-p {pg.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [*pg.run_as, str(pg.bindir / "pg_ctl"), "-D", str(pg.datadir), "-o", opts]
    subprocess.run([*ctl, "-l", str(root / "pg.log"), "-w", "-t", "60", "start"], check=True)


def _get(base: str, path: str) -> tuple[int, Any]:
    try:
        r = httpx.get(base + path, timeout=3)
        return r.status_code, r.json()
    except (httpx.HTTPError, ValueError) as exc:
        return 0, str(exc)


def _emitted(store: Store, history: int) -> int:
    try:
        with store.read() as conn:
            st = get_state(conn, "replay") or {"loop": 0, "index": 0}
    except Exception:
        return -1
    return int(st["loop"]) * history + int(st["index"])


def test_postgres_stopped_during_the_stream_nothing_lost(tmp_path: Path, own_pg: Postgres) -> None:
    """``btcpulse up`` (embedded log, PostgreSQL store, the replay feeding it): PostgreSQL
    stopped for 30 s mid-stream. /readyz says the store is down while it is; the supervisor
    restarts what died; once PostgreSQL is back everything catches up by itself."""
    outage_s = 30.0
    url = own_pg.new_database("fault")
    s = world_settings(tmp_path / "w", store_url=url, port=free_port())
    store = Store(url)
    store.migrate()
    history = len(load_bundle(REPLAY).records)
    env = world_env(
        s,
        BTCPULSE_STORE_URL=url,
        BTCPULSE_PORT=str(s.port),
        BTCPULSE_REPLAY_PATH=str(REPLAY),
        BTCPULSE_REPLAY_SPEED="60",
    )
    base = f"http://127.0.0.1:{s.port}"
    inputs = {s.topic_news, s.topic_prices}
    up = Proc(["up", "--no-live"], env, tmp_path / "up.log")
    try:
        until(lambda: _get(base, "/readyz")[0] == 200, up, 90, "ready")
        until(lambda: applied(store, "engine", inputs) >= history, up, 120, "history applied")
        before = _emitted(store, history)
        own_pg.stop()
        down_at = time.monotonic()
        seen: dict[str, float] = {}
        while time.monotonic() - down_at < outage_s:
            code, body = _get(base, "/readyz")
            if code == 503 and str(body["checks"]["store"]).startswith("unreachable"):
                seen.setdefault("readyz_store_unreachable", round(time.monotonic() - down_at, 1))
            if _get(base, "/livez")[0] == 200:
                seen.setdefault("livez_ok", round(time.monotonic() - down_at, 1))
            assert up.alive(), up.tail()  # the supervisor itself rides it out
            time.sleep(0.5)
        _pg_start(own_pg)
        back_at = time.monotonic()
        until(lambda: _get(base, "/readyz")[0] == 200, up, 120, "ready again")
        ready_s = time.monotonic() - back_at
        until(lambda: _emitted(store, history) >= before + 10, up, 180, "the replay going on")
        until(
            lambda: applied(store, "engine", inputs) >= _topic_messages(s, inputs),
            up,
            180,
            "the engine caught up",
        )
        recovered_s = time.monotonic() - back_at
        # The engine died with the store and the supervisor restarted it: health says so
        # (rewritten every minute, so also when the restart itself could not be recorded).
        until(lambda: _restarts(store, "process:engine") >= 1, up, 90, "the restart in health")
        with store.read() as conn:
            procs = {r.name: r.detail for r in conn.execute(select(tbl.source_health))}
        assert up.stop(60) == 0, up.tail()
    finally:
        if up.alive():
            up.kill()
    bus = EmbeddedLog(s.resolved_bus_path)
    drain_engine(s, store, bus)  # what came in after the engine's last batch
    with store.read() as conn:
        state = get_state(conn, "replay")
    assert state is not None
    emitted = state["loop"] * history + state["index"]
    seen_bus = replay_events(s, bus)
    stored = stored_events(store)
    clean, expected = clean_replay(tmp_path / "clean", state, emitted)
    diff = store_diff(clean, store)
    sums = totals(diff)
    record(
        "fault_postgres_stopped",
        {
            "command": "pytest tests/test_faults.py -k postgres",
            "outage_s": outage_s,
            "seen_during_outage_at_s": seen,
            "ready_again_s": round(ready_s, 1),
            "caught_up_s": round(recovered_s, 1),
            "restarts": {k: v for k, v in procs.items() if k.startswith("process:")},
            "records_emitted": emitted,
            "bus_duplicates": sum(seen_bus.values()) - len(seen_bus),
            "lost_records": len(expected.keys() - stored.keys()),
            "extra_records": len(stored.keys() - expected.keys()),
            "lost_rows": sums["lost"],
            "duplicated_rows": sums["dup"],
            "changed_rows": sums["changed"],
            "tables": diff,
        },
    )
    assert "readyz_store_unreachable" in seen and "livez_ok" in seen, seen
    assert stored.keys() == expected.keys() and max(stored.values()) == 1
    assert seen_bus.keys() == expected.keys()
    assert sums["lost"] == 0 and sums["dup"] == 0 and sums["changed"] == 0, diff


def _restarts(store: Store, name: str) -> int:
    row = health_row(store, name)
    detail = str(row.detail) if row is not None else ""
    return int(detail.rsplit("restarts ", 1)[1]) if "restarts " in detail else -1


def _topic_messages(s: Settings, topics: set[str]) -> int:
    sizes = topic_sizes(s.resolved_bus_path)
    return sum(n for t, n in sizes.items() if t in topics)

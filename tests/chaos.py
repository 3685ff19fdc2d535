"""Helpers of the kill and fault tests: ``btcpulse`` commands in their own process group (to
SIGKILL at random moments), a seeded schedule, and the store compared row by row with a
clean run: rows lost, rows duplicated (or double-counted), rows changed."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import REPLAY
from parity import COMPARED, _same, rows_of
from sqlalchemy import select

from btcpulse.bus.embedded import EmbeddedLog, topic_sizes
from btcpulse.bus.factory import Bus
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.collectors.replay.player import ReplayPlayer
from btcpulse.config import Settings
from btcpulse.events import Bar, NewsItem, parse_event
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.store.writes import get_offsets, put_state
from btcpulse.testing.fake_exchange import FakeExchange
from btcpulse.timeutil import to_epoch_us

ARTIFACTS = Path(__file__).with_name("artifacts") / "reliability"


def seed() -> int:
    """``BTCPULSE_CHAOS_SEED`` to replay a run, else a fresh one (always printed)."""
    raw = os.environ.get("BTCPULSE_CHAOS_SEED")
    return int(raw) if raw else random.SystemRandom().randrange(2**31)


def kills(default: int) -> int:
    """The number of kills: ``BTCPULSE_KILLS`` (the long variant) or the CI default."""
    return int(os.environ.get("BTCPULSE_KILLS", default))


def long_run() -> bool:
    return os.environ.get("BTCPULSE_LONG") == "1"


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTCPULSE_")}
    env.update(PYTHONUNBUFFERED="1", **extra)  # a killed process's last lines in its log
    return env


# Retention is wall-clock work (the recorded data is years old): off, so that when a pass
# happens cannot make two stores differ.
KEEP = {"retention_trades_days": 0, "retention_article_text_days": 0, "retention_log_days": 0}


def world_settings(root: Path, **kw: Any) -> Settings:
    kw.setdefault("replay_path", REPLAY)
    return Settings(
        data_dir=root,
        live_sources=False,
        _env_file=None,  # type: ignore[call-arg]
        **KEEP,
        **kw,
    )


def world_env(s: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``btcpulse`` child working on the world of ``s`` (embedded)."""
    return base_env(
        BTCPULSE_DATA_DIR=str(s.data_dir),
        BTCPULSE_LIVE_SOURCES="false",
        BTCPULSE_ENGINE_MAX_BATCH=str(s.engine_max_batch),
        BTCPULSE_LOG_LEVEL=os.environ.get("CHAOS_LOG_LEVEL", "WARNING"),
        **{f"BTCPULSE_{k.upper()}": str(v) for k, v in KEEP.items()},
        **extra,
    )


def open_world(s: Settings) -> tuple[Store, EmbeddedLog]:
    store = Store(s.resolved_store_url)
    store.migrate()
    return store, EmbeddedLog(s.resolved_bus_path)


def on_bus(s: Settings) -> int:
    """Messages in the embedded log, every topic."""
    return sum(topic_sizes(s.resolved_bus_path).values())


class Proc:
    """One ``python -m btcpulse ...`` in its own session; its output appended to ``log``."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.log = log
        self.started = time.monotonic()
        with log.open("ab") as out:
            out.write(f"\n=== {' '.join(args)} ===\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "btcpulse", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def age(self) -> float:
        return time.monotonic() - self.started

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group (a crash: no handler, no flush, no cleanup)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for a clean exit (SIGKILL if it does not come)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.args} did not stop on SIGTERM: {self.tail()}") from None

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]


def applied(store: Store, consumer: str, topics: set[str]) -> int:
    """Messages of ``topics`` a consumer's stored offsets say it has applied (0 if unknown)."""
    try:
        with store.read() as conn:
            offs = get_offsets(conn, consumer)
    except Exception:
        return 0
    return sum(v for tp, v in offs.items() if tp.topic in topics)


def health_row(store: Store, name: str) -> Any:
    with store.read() as conn:
        return conn.execute(select(t.source_health).where(t.source_health.c.name == name)).first()


def _key(table: str, row: dict[str, Any]) -> tuple[str, ...]:
    if table == "errors":
        names = ["stage", "reason", "payload"]
    else:
        names = [c.name for c in t.metadata.tables[table].primary_key.columns] or sorted(row)
    return tuple(str(row[k]) for k in names)


def store_diff(clean: Store, other: Store) -> dict[str, dict[str, Any]]:
    """Per compared table: rows of the clean run missing from ``other`` (lost), rows of
    ``other`` beyond the clean run's (duplicated: a second copy, or a new key), rows with the
    same key whose values differ (changed: e.g. a window counted twice); a few examples."""
    out: dict[str, dict[str, Any]] = {}
    for name in COMPARED:
        a: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        b: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for r in rows_of(clean, name):
            a.setdefault(_key(name, r), []).append(r)
        for r in rows_of(other, name):
            b.setdefault(_key(name, r), []).append(r)
        lost = dup = changed = 0
        examples: list[str] = []
        for k in sorted(a.keys() | b.keys()):
            left, right = a.get(k, []), b.get(k, [])
            lost += max(len(left) - len(right), 0)
            dup += max(len(right) - len(left), 0)
            if len(left) != len(right) and len(examples) < 3:
                examples.append(f"{k}: {len(left)} clean, {len(right)} here")
            for x, y in zip(left, right, strict=False):
                if delta := {c: (x[c], y[c]) for c in x if not _same(x[c], y[c])}:
                    changed += 1
                    if len(examples) < 3:
                        examples.append(f"{k}: {str(delta)[:400]}")
        rows = sum(map(len, a.values()))
        out[name] = {"rows": rows, "lost": lost, "dup": dup, "changed": changed}
        if examples:
            out[name]["examples"] = examples
    return out


def totals(diff: dict[str, dict[str, Any]]) -> Counter[str]:
    c: Counter[str] = Counter()
    for v in diff.values():
        c.update({k: n for k, n in v.items() if isinstance(n, int)})
    return c


def record(name: str, figures: dict[str, Any]) -> Path:
    """Write a test's figures to ``tests/artifacts/reliability/<name>.json`` and print them."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.json"
    knobs = ("BTCPULSE_KILLS", "BTCPULSE_LONG", "BTCPULSE_CHAOS_SEED", "BTCPULSE_REQUIRE_SERVICES")
    env = " ".join(f"{k}={os.environ[k]}" for k in knobs if k in os.environ)
    if env:
        figures["command"] = f"{env} {figures.get('command', '')}"
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    figures = {"test": name, "at": at, "load_avg_at_end": load, **figures}
    path.write_text(json.dumps(figures, indent=1, default=str) + "\n")
    print(f"\n[{name}] " + json.dumps(figures, default=str))
    return path


def until_progress(
    check: Callable[[], Any],
    proc: Proc,
    timeout: float,
    what: str | Callable[[], str],
    poll: float = 0.02,
) -> None:
    """Wait for ``check()`` while ``proc`` lives (its death fails at once, with its log);
    ``what`` (or what it returns) names the condition when it times out."""

    def ok() -> bool:
        if not proc.alive():
            raise AssertionError(f"{proc.args} exited {proc.proc.returncode}: {proc.tail()}")
        return bool(check())

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(poll)
    name = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout}s waiting for {name}: {proc.tail()}")


def replay_events(s: Settings, bus: Bus, timeout: float = 0.1) -> Counter[tuple[str, str]]:
    """Every news id and bar key on the bus, with how many times it is there."""
    consumer = bus.consumer(f"verify-{time.monotonic_ns()}")
    consumer.subscribe([s.topic_news, s.topic_prices])
    seen: Counter[tuple[str, str]] = Counter()
    while msgs := consumer.poll(timeout, 50_000):
        for m in msgs:
            ev = parse_event(m.value)
            if isinstance(ev, NewsItem):
                seen[("news", ev.id)] += 1
            elif isinstance(ev, Bar):
                open_s = to_epoch_us(ev.open_time) // 1_000_000
                seen[("bar", f"{ev.venue}:{ev.symbol}:{open_s}")] += 1
    consumer.close()
    return seen


def stored_events(store: Store) -> Counter[tuple[str, str]]:
    """The same keys, as stored (news by id, bars by venue, symbol and open second)."""
    out: Counter[tuple[str, str]] = Counter()
    with store.read() as conn:
        for nid in conn.execute(select(t.news.c.id)).scalars():
            out[("news", str(nid))] += 1
        for b in conn.execute(select(t.bars.c.venue, t.bars.c.symbol, t.bars.c.open_s)):
            out[("bar", f"{b.venue}:{b.symbol}:{int(b.open_s)}")] += 1
    return out


def clean_replay(
    root: Path, state: dict[str, Any], emitted: int, **kw: Any
) -> tuple[Store, Counter[tuple[str, str]]]:
    """A clean run of what a replay's saved ``state`` says it emitted: the same recording,
    anchor and speed, played once without a fault into an embedded world, then the engine.
    Returns its store and the events it put on the bus."""
    from conftest import drain_engine

    s = world_settings(root, **kw)
    store, bus = open_world(s)
    with store.begin() as conn:
        put_state(conn, "replay", {**state, "loop": 0, "index": 0})
    far = datetime(2100, 1, 1, tzinfo=UTC)
    player = ReplayPlayer(
        load_bundle(s.replay_path),
        s,
        bus.producer(),
        store,
        speed=state["speed"],
        loop=False,
        clock=lambda: far,
    )
    assert player.emit_due(limit=emitted) == emitted
    events = replay_events(s, bus)
    drain_engine(s, store, bus)
    return store, events


class VenueThread:
    """A :class:`FakeExchange` served by its own event loop in a thread, so that it goes on
    (its market too) while the collector processes under test die and come back."""

    def __init__(self, fake: FakeExchange) -> None:
        self.fake = fake
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> VenueThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the exchange's loop (its state is the loop's) and return its value."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return fut.result(10)

    def happen(self, n: int) -> int:
        """``n`` trades happen with no client to see them (REST has them); the cursor after."""

        def go() -> int:
            self.fake.cursor = min(len(self.fake.tape), self.fake.cursor + n)
            return self.fake.cursor

        return int(self.call(go))

    def close_market(self, extra: int) -> int:
        """The tape ends ``extra`` trades after the current cursor; returns its length."""

        def go() -> int:
            self.fake.tape = self.fake.tape[: self.fake.cursor + extra]
            return len(self.fake.tape)

        return int(self.call(go))

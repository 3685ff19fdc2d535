"""Kill tests of the collectors: the replay of recorded data (``btcpulse replay``) and a price
collector (``btcpulse collect prices``, against a local exchange whose market goes on while the
collector is dead) SIGKILLed at random moments (a seeded schedule, printed:
``BTCPULSE_CHAOS_SEED`` replays it) and restarted each time. The store ends with every record
exactly once and equal to a clean run's; duplicates on the bus are counted (allowed: the store
dedupes them by natural key). ``BTCPULSE_KILLS=N`` sets the number of kills.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from chaos import (
    Proc,
    VenueThread,
    clean_replay,
    kills,
    on_bus,
    open_world,
    record,
    replay_events,
    seed,
    store_diff,
    stored_events,
    totals,
    world_env,
    world_settings,
)
from chaos import until_progress as until
from conftest import REPLAY, drain_engine
from parity import assert_same_store
from sqlalchemy import select

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.prices.venues import collector
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.collectors.replay.player import ReplayPlayer
from btcpulse.config import Settings
from btcpulse.events import Trade, parse_event
from btcpulse.store import schema as tbl
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state
from btcpulse.testing.fake_exchange import FakeExchange, TapeTrade, synthetic_tape

pytestmark = pytest.mark.slow


@pytest.mark.timeout(1800)  # the long variant (BTCPULSE_KILLS / BTCPULSE_LONG)
def test_replay_collector_killed_at_random_moments_stores_every_record_once(
    tmp_path: Path,
) -> None:
    n_kills, rng_seed = kills(20), seed()
    rng = random.Random(rng_seed)
    print(f"seed {rng_seed}, {n_kills} kills")
    bundle = load_bundle(REPLAY)
    history = len(bundle.records)
    s = world_settings(tmp_path / "killed")
    store, bus = open_world(s)
    args = ["replay", str(REPLAY), "--speed", "60", "--no-loop", "--mode", "always"]
    log = tmp_path / "replay.log"
    schedule: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for i in range(n_kills):
        before = on_bus(s)
        proc = Proc(args, world_env(s), log)
        if rng.random() < 0.4:  # anywhere: start-up, loading the bundle, history, time-lapse
            mode, delay = "time", rng.uniform(0.3, 5.0)
            time.sleep(delay)
        else:  # while it produces: inside the history, or between time-lapse records
            step = rng.randint(1, max(history - before, 1)) if before < history else 1
            mode, delay = "progress", rng.uniform(0.0, 0.2)
            until(lambda b=before + step: on_bus(s) >= b, proc, 60, "records produced")
            time.sleep(delay)
        proc.kill()
        schedule.append(
            {"kill": i + 1, "mode": mode, "after_s": round(proc.age, 2), "on_bus": on_bus(s)}
        )
    killing_s = time.monotonic() - t0

    # The last run goes on a few time-lapse records past the kills, then stops cleanly.
    proc = Proc(args, world_env(s), log)
    mark = max(on_bus(s), history)
    until(lambda: on_bus(s) >= mark + 3, proc, 60, "the replay to go on")
    assert proc.stop() == 0, proc.tail()
    with store.read() as conn:
        state = get_state(conn, "replay")
    assert state is not None
    emitted = state["loop"] * history + state["index"]
    seen = replay_events(s, bus)
    drain_engine(s, store, bus)

    clean, expected = clean_replay(tmp_path / "clean", state, emitted)

    stored = stored_events(store)
    lost = len(expected.keys() - stored.keys())
    extra = len(stored.keys() - expected.keys())
    diff = store_diff(clean, store)
    sums = totals(diff)
    record(
        "kill_replay_collector",
        {
            "command": "pytest tests/test_kill_collectors.py -k replay_collector",
            "seed": rng_seed,
            "kills": n_kills,
            "records_emitted": emitted,
            "bus_messages": sum(seen.values()),
            "bus_duplicates": sum(seen.values()) - len(seen),
            "lost_records": lost,
            "extra_records": extra,
            "lost_rows": sums["lost"],
            "duplicated_rows": sums["dup"],
            "changed_rows": sums["changed"],
            "rows_compared": sums["rows"],
            "killing_s": round(killing_s, 1),
            "tables": diff,
            "schedule": schedule,
        },
    )
    # every record the cursor says was emitted is on the bus and in the store, once
    assert seen.keys() == expected.keys() and len(expected) == emitted
    assert lost == 0 and extra == 0 and max(stored.values()) == 1
    assert sums["lost"] == 0 and sums["dup"] == 0 and sums["changed"] == 0, diff
    assert_same_store(clean, store)


class _CrashAfterFlush(Exception):
    pass


def test_replay_crash_between_its_first_flush_and_cursor_save_resends_identical_events(
    tmp_path: Path,
) -> None:
    """The narrowest kill window of the replay, hit on purpose: its first records are on the
    bus, the process dies before it saves its cursor. The restart re-sends them with the same
    times and ids (the anchor was saved at start), so the store holds each once."""
    s = world_settings(tmp_path / "w")
    store, bus = open_world(s)
    bundle = load_bundle(REPLAY)
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    first = ReplayPlayer(bundle, s, bus.producer(), store, speed=60, clock=lambda: start)

    def crash() -> None:
        raise _CrashAfterFlush

    first._save = crash  # type: ignore[method-assign]  # the process dies right after flushing
    with pytest.raises(_CrashAfterFlush):
        first.emit_due()
    sent = on_bus(s)
    assert sent == 2000
    later = start + timedelta(seconds=7)  # the restart comes a few seconds later
    again = ReplayPlayer(bundle, s, bus.producer(), store, speed=60, clock=lambda: later)
    while again.emit_due():
        pass
    seen = replay_events(s, bus)
    assert sum(seen.values()) - len(seen) == sent  # re-sent: the very same events...
    drain_engine(s, store, bus)
    stored = stored_events(store)
    assert stored.keys() == seen.keys() and max(stored.values()) == 1  # ...stored once


def _bus_trades(s: Settings, bus: EmbeddedLog) -> Counter[str]:
    consumer = bus.consumer(f"verify-{time.monotonic_ns()}")
    consumer.subscribe([s.topic_prices])
    seen: Counter[str] = Counter()
    while msgs := consumer.poll(0.1, 50_000):
        for m in msgs:
            ev = parse_event(m.value)
            if isinstance(ev, Trade):
                seen[ev.trade_id] += 1
    consumer.close()
    return seen


def _stored_trades(store: Store) -> list[tuple[Any, ...]]:
    c = tbl.trades.c
    with store.read() as conn:
        rows = conn.execute(select(c.trade_id, c.price, c.size, c.side, c.time)).all()
    return sorted((tuple(r) for r in rows), key=lambda r: int(r[0]))


def _clean_prices(root: Path, tape: list[TapeTrade]) -> Store:
    """The same tape through an uninterrupted collector, then the engine."""
    s = world_settings(root)
    store, bus = open_world(s)
    fake = FakeExchange("binance", symbol="BTC-USDT", tape=list(tape))

    async def run() -> None:
        async with fake:
            c = collector(
                "binance",
                s,
                bus.producer(),
                store,
                ws_url=fake.ws_url,
                rest_url=fake.rest_url,
                symbols=["BTC-USDT"],
            )
            stop = asyncio.Event()
            task = asyncio.create_task(c.run(stop))
            deadline = asyncio.get_running_loop().time() + 60
            while c.stats.trades < len(tape):
                assert asyncio.get_running_loop().time() < deadline, "clean run too slow"
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(run())
    drain_engine(s, store, bus)
    return store


@pytest.mark.timeout(1800)  # the long variant (BTCPULSE_KILLS / BTCPULSE_LONG)
def test_price_collector_killed_at_random_moments_stores_every_trade_once(
    tmp_path: Path,
) -> None:
    """``btcpulse collect prices`` against a local Binance whose market goes on while the
    collector is dead: each restart fills what it missed from the venue's REST history."""
    n_kills, rng_seed = kills(20), seed()
    rng = random.Random(rng_seed)
    print(f"seed {rng_seed}, {n_kills} kills")
    tape = synthetic_tape(100_000, step_ms=20)
    fake = FakeExchange("binance", symbol="BTC-USDT", tape=tape, interval_s=0.02)
    s = world_settings(tmp_path / "killed")
    store, bus = open_world(s)
    log = tmp_path / "prices.log"
    schedule: list[dict[str, Any]] = []
    missed = 0
    with VenueThread(fake) as venue:
        args = [
            *("collect", "prices", "--venue", "binance", "--symbol", "BTC-USDT"),
            *("--url", fake.ws_url, "--rest-url", fake.rest_url),
        ]
        env = world_env(s, BTCPULSE_HTTP_TIMEOUT_S="3")
        t0 = time.monotonic()
        for i in range(n_kills):
            before = on_bus(s)
            proc = Proc(args, env, log)
            if rng.random() < 0.3:  # anywhere: start-up, connecting, backfilling, streaming
                mode, delay = "time", rng.uniform(0.3, 5.0)
                time.sleep(delay)
            else:  # while it streams: trades were published since the start
                mode, delay = "progress", rng.uniform(0.0, 0.3)
                step = rng.randint(1, 150)
                until(lambda b=before + step: on_bus(s) >= b, proc, 60, "trades published")
                time.sleep(delay)
            proc.kill()
            gone = rng.randint(0, 80)  # trades while it is dead, seen by nobody
            missed += gone
            cursor = venue.happen(gone)
            schedule.append(
                {
                    "kill": i + 1,
                    "mode": mode,
                    "after_s": round(proc.age, 2),
                    "on_bus": on_bus(s),
                    "market_at": cursor,
                    "missed_while_dead": gone,
                }
            )
        killing_s = time.monotonic() - t0
        proc = Proc(args, env, log)
        until(lambda: on_bus(s) > schedule[-1]["on_bus"] if schedule else True, proc, 60, "go")
        end = venue.close_market(40)
        # From the first trade the collector ever published: what happened before it had
        # published anything is before it began (a restart has nothing to fill from).
        first = min(int(i) for i in _bus_trades(s, bus))
        want = {str(x.trade_id) for x in tape[:end] if x.trade_id >= first}

        def missing() -> list[str]:
            return sorted(want - _bus_trades(s, bus).keys())

        until(lambda: not missing(), proc, 90, lambda: f"{end} trades; missing {missing()[:20]}")
        assert proc.stop() == 0, proc.tail()
    seen = _bus_trades(s, bus)
    drain_engine(s, store, bus)
    expected = want
    start = next(i for i, x in enumerate(tape) if x.trade_id == first)
    got = _stored_trades(store)
    ids = [str(r[0]) for r in got]
    clean = _clean_prices(tmp_path / "clean", tape[start:end])
    diff = store_diff(clean, store)
    sums = totals(diff)
    record(
        "kill_price_collector",
        {
            "command": "pytest tests/test_kill_collectors.py -k price_collector",
            "seed": rng_seed,
            "kills": n_kills,
            "trades": end - start,
            "first_trade_index": start,
            "missed_while_dead": missed,
            "bus_messages": sum(seen.values()),
            "bus_duplicates": sum(seen.values()) - len(seen),
            "lost_trades": len(expected - set(ids)),
            "extra_trades": len(set(ids) - expected),
            "lost_rows": sums["lost"],
            "duplicated_rows": sums["dup"],
            "changed_rows": sums["changed"],
            "killing_s": round(killing_s, 1),
            "tables": diff,
            "schedule": schedule,
        },
    )
    assert set(ids) == expected and len(ids) == len(expected)
    assert sums["lost"] == 0 and sums["dup"] == 0 and sums["changed"] == 0, diff
    assert got == _stored_trades(clean)
    assert_same_store(clean, store)

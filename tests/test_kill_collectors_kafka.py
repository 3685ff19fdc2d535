"""Kill test of a collector in distributed mode: the replay of recorded data (``btcpulse
replay``) writing to Kafka (the session's tansu broker, topics of a fresh tag) with its cursor
in PostgreSQL, SIGKILLed at random moments (a seeded schedule, printed:
``BTCPULSE_CHAOS_SEED`` replays it) and restarted each time. Every message on the topics is
then read back from the beginning (duplicates counted: allowed, the store dedupes them by
natural key) and applied by the engine as ``btcpulse process`` runs it in distributed mode
(Kafka → PostgreSQL); the store equals a clean, uninterrupted replay's. ``BTCPULSE_KILLS=N``
sets the number of kills. The embedded-bus variant is in ``test_kill_collectors.py``.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from chaos import (
    Proc,
    applied,
    clean_replay,
    kills,
    record,
    seed,
    store_diff,
    stored_events,
    totals,
)
from chaos import until_progress as until
from conftest import REPLAY
from parity import assert_same_store
from spark_fixtures import Stack, distributed_stack

from btcpulse.analytics.sentiment import make_scorer
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.engines.embedded import EmbeddedEngine
from btcpulse.events import Bar, NewsItem, parse_event
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state
from btcpulse.testing.services import Broker, Postgres
from btcpulse.timeutil import to_epoch_us

pytestmark = pytest.mark.slow


def _emitted(store: Store, history: int) -> int:
    """Records the replay's saved cursor says are on the bus (0 before its first start)."""
    with store.read() as conn:
        state = get_state(conn, "replay")
    return 0 if state is None else int(state["loop"]) * history + int(state["index"])


def _bus_events(stack: Stack, timeout: float = 120.0) -> Counter[tuple[str, str]]:
    """Every news id and bar key on the Kafka topics, with how many times it is there: read
    from the beginning until each partition's position reaches its end (the producers are
    stopped), not until a poll happens to come back empty."""
    s = stack.settings
    consumer = stack.kafka.consumer(f"verify-{os.urandom(4).hex()}")
    consumer.subscribe([s.topic_news, s.topic_prices])
    seen: Counter[tuple[str, str]] = Counter()
    deadline = time.monotonic() + timeout
    try:
        while True:
            msgs = consumer.poll(0.5, 50_000)
            for m in msgs:
                ev = parse_event(m.value)
                if isinstance(ev, NewsItem):
                    seen[("news", ev.id)] += 1
                elif isinstance(ev, Bar):
                    open_s = to_epoch_us(ev.open_time) // 1_000_000
                    seen[("bar", f"{ev.venue}:{ev.symbol}:{open_s}")] += 1
                else:
                    raise AssertionError(f"unexpected event on {m.topic}: {ev!r}")
            tps = consumer.assignment()
            if not msgs and all(consumer.position(tp) >= consumer.end_offset(tp) for tp in tps):
                return seen
            assert time.monotonic() < deadline, f"Kafka topics not read in {timeout}s"
    finally:
        consumer.close()


def _drain_kafka(stack: Stack, total: int, timeout: float = 60.0) -> None:
    """The engine as ``btcpulse process`` builds it in distributed mode (its consumer on Kafka,
    its store PostgreSQL) applies the ``total`` input messages in one batch, then goes idle.

    One batch, as the clean run's engine applies its input: the derived rows (stories,
    impacts, the index, alerts) depend on how polls cut the input into batches, and over
    Kafka that cut depends on fetch timing across partitions and topics (two drains of the
    same topics with small batches differ), which would make the comparison about timing
    rather than about the kills. A poll returns as soon as it holds ``total`` messages."""
    s = stack.settings.model_copy(
        update={"engine_max_batch": total, "engine_poll_timeout_s": timeout}
    )
    engine = EmbeddedEngine(
        s,
        stack.store,
        stack.kafka.consumer(s.engine_group),
        stack.kafka.producer(),
        make_scorer(s.sentiment_model),
    )
    engine.start()
    try:
        assert engine.run_once() == total, f"not all {total} messages fetched in {timeout}s"
        engine.s = stack.settings  # the idle pass, with the usual poll timeout
        assert engine.run_once() == 0, "messages beyond the topics' ends"
    finally:
        engine.consumer.close()
    assert applied(stack.store, s.engine_group, stack.inputs) == total


@pytest.mark.timeout(1800)  # the long variant (BTCPULSE_KILLS / BTCPULSE_LONG)
def test_replay_collector_on_kafka_killed_at_random_moments_stores_every_record_once(
    tmp_path: Path, kafka_broker: Broker, postgres: Postgres
) -> None:
    n_kills, rng_seed = kills(20), seed()
    rng = random.Random(rng_seed)
    print(f"seed {rng_seed}, {n_kills} kills")
    history = len(load_bundle(REPLAY).records)
    stack = distributed_stack(tmp_path / "killed", kafka_broker, postgres)
    s, store = stack.settings, stack.store
    env = {**stack.env, "BTCPULSE_LOG_LEVEL": os.environ.get("CHAOS_LOG_LEVEL", "WARNING")}
    args = ["replay", str(REPLAY), "--speed", "60", "--no-loop", "--mode", "always"]
    log = tmp_path / "replay.log"

    def emitted() -> int:
        return _emitted(store, history)

    schedule: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for i in range(n_kills):
        before = emitted()
        proc = Proc(args, env, log)
        if rng.random() < 0.4:  # anywhere: start-up, connecting, the history, time-lapse
            mode, delay = "time", rng.uniform(0.3, 5.0)
            time.sleep(delay)
        else:  # while it produces: inside the history, or between time-lapse records
            step = rng.randint(1, max(history - before, 1)) if before < history else 1
            mode, delay = "progress", rng.uniform(0.0, 0.2)

            def produced(b: int = before + step) -> bool:
                return emitted() >= b

            until(produced, proc, 60, "records produced", 0.05)
            time.sleep(delay)
        proc.kill()
        schedule.append(
            {"kill": i + 1, "mode": mode, "after_s": round(proc.age, 2), "emitted": emitted()}
        )
    killing_s = time.monotonic() - t0

    # The last run goes on a few time-lapse records past the kills, then stops cleanly.
    proc = Proc(args, env, log)
    mark = max(emitted(), history)
    until(lambda: emitted() >= mark + 3, proc, 60, "the replay to go on", 0.05)
    assert proc.stop() == 0, proc.tail()
    with store.read() as conn:
        state = get_state(conn, "replay")
    assert state is not None
    n_emitted = int(state["loop"]) * history + int(state["index"])

    seen = _bus_events(stack)
    messages = sum(seen.values())
    _drain_kafka(stack, messages)
    topics = {
        k: getattr(s, k)
        for k in ("topic_news", "topic_prices", "topic_updates", "topic_deadletters")
    }
    clean, expected = clean_replay(tmp_path / "clean", state, n_emitted, **topics)

    stored = stored_events(store)
    diff = store_diff(clean, store)
    sums = totals(diff)
    record(
        "kill_replay_collector_kafka",
        {
            "command": "pytest tests/test_kill_collectors_kafka.py",
            "seed": rng_seed,
            "kills": n_kills,
            "records_emitted": n_emitted,
            "bus_messages": messages,
            "bus_duplicates": messages - len(seen),
            "bus_lost_records": len(expected.keys() - seen.keys()),
            "bus_extra_records": len(seen.keys() - expected.keys()),
            "lost_records": len(expected.keys() - stored.keys()),
            "extra_records": len(stored.keys() - expected.keys()),
            "lost_rows": sums["lost"],
            "duplicated_rows": sums["dup"],
            "changed_rows": sums["changed"],
            "rows_compared": sums["rows"],
            "killing_s": round(killing_s, 1),
            "tables": diff,
            "schedule": schedule,
        },
    )
    # every record the cursor says was emitted is on Kafka and in the store, once
    assert len(expected) == n_emitted and max(expected.values()) == 1
    assert seen.keys() == expected.keys()
    assert stored.keys() == expected.keys() and max(stored.values()) == 1
    assert sums["lost"] == 0 and sums["dup"] == 0 and sums["changed"] == 0, diff
    counts = assert_same_store(clean, store)
    assert counts["news"] > 0 and counts["bars"] > 0

"""Kill tests of the engines: the embedded engine (``btcpulse process``) and the Spark driver
(``btcpulse spark job``) SIGKILLed at random moments (a seeded schedule, printed:
``BTCPULSE_CHAOS_SEED`` replays it) and restarted each time; the final store equals a clean
run over the same input, with the rows lost, duplicated and changed counted (all 0). The
collectors' kills are in ``test_kill_collectors.py``.

``BTCPULSE_KILLS=N`` sets the number of kills (the long variant: 20 everywhere). Figures are
written to ``tests/artifacts/reliability/`` and recorded in ``tests/RELIABILITY.md``.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import spark_fixtures
from chaos import (
    Proc,
    applied,
    health_row,
    kills,
    open_world,
    record,
    seed,
    store_diff,
    totals,
    world_env,
    world_settings,
)
from chaos import until_progress as until
from conftest import FIXTURES, REPLAY, drain_engine, make_engine
from distributed_input import Message, produce_all, recorded_messages
from parity import assert_same_store, rows_of
from spark_fixtures import distributed_stack, spark_applied

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.collectors.replay.player import ReplayPlayer
from btcpulse.config import Settings
from btcpulse.store.db import Store
from btcpulse.testing.services import Broker, Postgres

pytestmark = pytest.mark.slow
spark_cluster = spark_fixtures.spark_cluster  # the module's Spark cluster


def _idle_after(store: Store, when: float) -> bool:
    """The engine reported health after ``when`` (epoch s): it went idle since then (its idle
    pass derives what the last batches touched before it reports)."""
    row = health_row(store, "engine")
    return row is not None and row.updated_at.timestamp() > when


@pytest.mark.timeout(1800)  # the long variant (BTCPULSE_KILLS / BTCPULSE_LONG)
def test_engine_killed_at_random_moments_equals_a_clean_run(tmp_path: Path) -> None:
    n_kills, rng_seed = kills(10), seed()  # a restart costs ~4-8 s here: 10 fit in CI
    rng = random.Random(rng_seed)
    print(f"seed {rng_seed}, {n_kills} kills")
    # Small batches: the recorded input takes ~40 batches, so kills land while it works. The
    # clean run reads with the same batch size: derived rows depend on what a world holds when
    # a batch is derived (an article derived before its world has any price gets no impact
    # row), so batch boundaries, not kills, would otherwise make the stores differ.
    clean_s = world_settings(tmp_path / "clean", engine_max_batch=100)
    s = world_settings(tmp_path / "killed", engine_max_batch=100)
    messages = recorded_messages(s, REPLAY, FIXTURES)
    total = len(messages)
    clean, clean_bus = open_world(clean_s)
    store, bus = open_world(s)
    produce_all(clean_bus.producer(), messages)
    produce_all(bus.producer(), messages)
    drain_engine(clean_s, clean, clean_bus)

    inputs = {s.topic_news, s.topic_prices}
    log = tmp_path / "engine.log"
    schedule: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for i in range(n_kills):
        before = applied(store, "engine", inputs)
        proc = Proc(["process"], world_env(s), log)
        left = total - before
        if rng.random() < 0.25 or left < 50:  # anywhere: start-up, seek, a batch, idle
            mode, delay = "time", rng.uniform(0.2, 4.0)
            time.sleep(delay)  # the moment is the point here: any state the process is in
        else:  # after the engine has stored some work, somewhere in what follows
            step = max(1, int(rng.uniform(0.2, 1.0) * left / (n_kills - i + 1)))
            mode, delay = "progress", rng.uniform(0.0, 0.3)
            until(lambda b=before + step: applied(store, "engine", inputs) >= b, proc, 120, "work")
            time.sleep(delay)
        proc.kill()
        schedule.append(
            {
                "kill": i + 1,
                "mode": mode,
                "after_s": round(proc.age, 2),
                "applied_before": before,
                "applied_at_kill": applied(store, "engine", inputs),
            }
        )
    killing_s = time.monotonic() - t0

    # The last restart runs to the end: every input message applied, then an idle pass.
    proc = Proc(["process"], world_env(s), log)
    until(lambda: applied(store, "engine", inputs) == total, proc, 180, "every message applied")
    done_at = time.time()
    until(lambda: _idle_after(store, done_at + 0.5), proc, 60, "an idle pass after the end")
    assert proc.stop() == 0, proc.tail()
    recovery_s = time.monotonic() - t0 - killing_s

    diff = store_diff(clean, store)
    sums = totals(diff)
    record(
        "kill_engine_embedded",
        {
            "command": "pytest tests/test_kill.py -k engine",
            "seed": rng_seed,
            "kills": n_kills,
            "messages": total,
            "mid_work_kills": sum(
                1 for k in schedule if k["applied_at_kill"] > k["applied_before"]
            ),
            "lost_rows": sums["lost"],
            "duplicated_rows": sums["dup"],
            "changed_rows": sums["changed"],
            "rows_compared": sums["rows"],
            "killing_s": round(killing_s, 1),
            "last_run_s": round(recovery_s, 1),
            "tables": diff,
            "schedule": schedule,
        },
    )
    assert sums["lost"] == 0 and sums["dup"] == 0 and sums["changed"] == 0, diff
    counts = assert_same_store(clean, store)
    assert counts["news"] > 0 and counts["candles"] > 0 and counts["errors"] >= 2


@pytest.mark.timeout(3600)
def test_spark_driver_killed_at_random_moments_equals_a_clean_run(
    tmp_path: Path, kafka_broker: Broker, postgres: Postgres, spark_cluster: Any
) -> None:
    """Kafka (tansu) → Spark standalone cluster → PostgreSQL: the driver SIGKILLed at random
    moments, restarted from its checkpoint. A restart costs ~20-30 s (a new Spark application),
    so CI kills it twice; ``BTCPULSE_KILLS=20`` is the long variant."""
    n_kills, rng_seed = kills(2), seed()
    rng = random.Random(rng_seed)
    print(f"seed {rng_seed}, {n_kills} kills")
    stack = distributed_stack(
        tmp_path / "dist",
        kafka_broker,
        postgres,
        spark_master=spark_cluster.master_url,
        spark_max_records_per_batch=100,
    )
    s, store = stack.settings, stack.store
    messages = recorded_messages(s, REPLAY, FIXTURES)
    total = len(messages)
    produce_all(stack.kafka.producer(), messages)
    topics = {k: getattr(s, k) for k in ("topic_news", "topic_prices", "topic_updates")}
    clean_s = world_settings(tmp_path / "clean", topic_deadletters=s.topic_deadletters, **topics)
    clean, clean_bus = open_world(clean_s)
    produce_all(clean_bus.producer(), messages)
    drain_engine(clean_s, clean, clean_bus)

    log = tmp_path / "job.log"
    schedule: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for i in range(n_kills):
        before, batches = spark_applied(store, stack.inputs)
        proc = Proc(["spark", "job"], stack.env, log)
        left = (total - before) // 100
        if rng.random() < 0.3 or left <= n_kills - i:  # anywhere, start-up included
            mode, delay = "time", rng.uniform(3.0, 45.0)
            until(lambda p=proc, d=delay: p.age >= d, proc, delay + 5, "the moment")
        else:  # after the driver applied one or two batches, somewhere in what follows
            mode, delay = "progress", rng.uniform(0.0, 2.0)
            want = batches + rng.randint(1, 2)
            until(lambda w=want: spark_applied(store, stack.inputs)[1] >= w, proc, 300, "batches")
            time.sleep(delay)
        proc.kill()
        at_kill = spark_applied(store, stack.inputs)
        schedule.append(
            {
                "kill": i + 1,
                "mode": mode,
                "after_s": round(proc.age, 2),
                "applied_before": before,
                "applied_at_kill": at_kill[0],
                "batches_at_kill": at_kill[1],
            }
        )
    killing_s = time.monotonic() - t0
    proc = Proc(["spark", "job"], stack.env, log)
    until(lambda: spark_applied(store, stack.inputs)[0] == total, proc, 600, "all applied")
    last_run_s = proc.age
    assert proc.stop(60) == 0, proc.tail()

    diff = store_diff(clean, store)
    sums = totals(diff)
    record(
        "kill_spark_driver",
        {
            "command": "pytest tests/test_kill.py -k spark",
            "seed": rng_seed,
            "kills": n_kills,
            "messages": total,
            "mid_work_kills": sum(k["applied_at_kill"] > k["applied_before"] for k in schedule),
            "lost_rows": sums["lost"],
            "duplicated_rows": sums["dup"],
            "changed_rows": sums["changed"],
            "rows_compared": sums["rows"],
            "killing_s": round(killing_s, 1),
            "last_run_s": round(last_run_s, 1),
            "tables": diff,
            "schedule": schedule,
        },
    )
    assert sums["lost"] == 0 and sums["dup"] == 0 and sums["changed"] == 0, diff
    counts = assert_same_store(clean, store)
    assert counts["news"] > 0 and counts["candles"] > 0 and counts["errors"] >= 2


def test_alerts_of_windows_still_open_end_as_a_reprocessing_stores_them(tmp_path: Path) -> None:
    """The time-lapse lands 60 recorded minutes in each wall-clock minute: an alert raised on
    a minute still trading (here the price move from the history's end to the time-lapse's
    start) must end with that minute's full value, as re-processing the whole log (after a
    crash, a replay) stores it: live, record by record, then the same log at once."""
    bundle = load_bundle(REPLAY)
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    live_s = world_settings(tmp_path / "live")
    live, live_bus = open_world(live_s)
    clock = [start]
    player = ReplayPlayer(
        bundle, live_s, live_bus.producer(), live, speed=60, clock=lambda: clock[0]
    )
    engine = make_engine(live_s, live, live_bus)
    player.emit_due(limit=len(bundle.records))  # the history
    while engine.run_once():
        pass
    for second in range(1, 90):  # 90 s of time-lapse, each second's records as they come
        clock[0] = start + timedelta(seconds=second)
        while player.emit_due():
            pass
        while engine.run_once():
            pass
    clean_s = world_settings(tmp_path / "clean")
    clean, clean_bus = open_world(clean_s)
    produce_all(clean_bus.producer(), _log(live_s, live_bus))
    drain_engine(clean_s, clean, clean_bus)
    alerts = rows_of(clean, "alerts")
    assert any(a["kind"] == "price_move" for a in alerts)
    diff = store_diff(clean, live)
    assert all(v["lost"] == v["dup"] == v["changed"] == 0 for v in diff.values()), diff


def _log(s: Settings, bus: EmbeddedLog) -> list[Message]:
    """Everything the collectors put on the bus, to process again at once."""
    consumer = bus.consumer("copy")
    consumer.subscribe([s.topic_news, s.topic_prices])
    out: list[Message] = []
    while msgs := consumer.poll(0.1, 50_000):
        out += [(m.topic, m.value, m.key, m.timestamp_ms) for m in msgs]
    return out

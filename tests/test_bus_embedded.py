"""The embedded log: ordering, offsets, consumer groups, blocking poll, restarts, processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import ROOT

from btcpulse.bus.base import TopicPartition
from btcpulse.bus.embedded import EmbeddedLog

TP = TopicPartition("t", 0)


def _produce(log: EmbeddedLog, topic: str, n: int, start: int = 0) -> None:
    p = log.producer()
    for i in range(start, start + n):
        p.produce(topic, f"m{i}".encode(), key=f"k{i}".encode(), timestamp_ms=1_000 + i)
    assert p.flush() == 0
    p.close()


def test_messages_keep_order_offsets_keys_and_timestamps(bus: EmbeddedLog) -> None:
    _produce(bus, "t", 5)
    c = bus.consumer("g")
    c.subscribe(["t"])
    msgs = c.poll(1.0)
    assert [m.offset for m in msgs] == [0, 1, 2, 3, 4]
    assert [m.value for m in msgs] == [f"m{i}".encode() for i in range(5)]
    assert msgs[2].key == b"k2" and msgs[2].timestamp_ms == 1_002
    assert c.position(TP) == 5 and c.end_offset(TP) == 5


def test_unflushed_messages_are_not_visible(bus: EmbeddedLog) -> None:
    p = bus.producer()
    p.produce("t", b"x")
    c = bus.consumer("g")
    c.subscribe(["t"])
    assert c.poll(0.05) == []
    p.flush()
    assert [m.value for m in c.poll(1.0)] == [b"x"]


def test_groups_commit_independently_and_survive_restart(bus: EmbeddedLog, tmp_path: Path) -> None:
    _produce(bus, "t", 10)
    a = bus.consumer("a")
    a.subscribe(["t"])
    assert len(a.poll(1.0, max_messages=4)) == 4
    a.commit()
    a.close()
    b = bus.consumer("b")
    b.subscribe(["t"])
    assert b.poll(1.0, max_messages=100)[0].offset == 0  # another group starts from the start

    reopened = EmbeddedLog(bus.path)  # a new process would do exactly this
    a2 = reopened.consumer("a")
    a2.subscribe(["t"])
    assert a2.committed(TP) == 4
    assert [m.offset for m in a2.poll(1.0)] == list(range(4, 10))


def test_latest_reset_reads_only_new_messages_and_seek_rewinds(bus: EmbeddedLog) -> None:
    _produce(bus, "t", 3)
    c = bus.consumer("late", auto_offset_reset="latest")
    c.subscribe(["t"])
    assert c.poll(0.05) == []
    _produce(bus, "t", 2, start=3)
    assert [m.offset for m in c.poll(1.0)] == [3, 4]
    c.seek(TP, 1)
    assert [m.offset for m in c.poll(1.0)] == [1, 2, 3, 4]


def test_poll_blocks_until_a_message_arrives(bus: EmbeddedLog) -> None:
    c = bus.consumer("g")
    c.subscribe(["t"])
    t0 = time.monotonic()
    assert c.poll(0.2) == []
    assert time.monotonic() - t0 >= 0.19

    threading.Timer(0.3, lambda: _produce(bus, "t", 1)).start()
    t0 = time.monotonic()
    msgs = c.poll(5.0)
    waited = time.monotonic() - t0
    assert len(msgs) == 1
    assert 0.25 <= waited < 2.0  # woke up on the message, not at the timeout


def test_keyed_partitions(bus: EmbeddedLog) -> None:
    bus.create_topic("parted", 4)
    p = bus.producer()
    for i in range(200):
        p.produce("parted", b"v", key=f"key-{i % 10}".encode())
    p.flush()
    c = bus.consumer("g")
    c.subscribe(["parted"])
    assert len(c.assignment()) == 4
    got = c.poll(1.0, max_messages=1000)
    assert len(got) == 200
    by_key: dict[bytes | None, set[int]] = {}
    for m in got:
        by_key.setdefault(m.key, set()).add(m.partition)
    assert all(len(parts) == 1 for parts in by_key.values())  # a key stays on one partition
    assert len({m.partition for m in got}) > 1


def test_concurrent_producer_processes_get_dense_unique_offsets(bus: EmbeddedLog) -> None:
    script = (
        "import sys; from btcpulse.bus.embedded import EmbeddedLog\n"
        "p = EmbeddedLog(sys.argv[1]).producer()\n"
        "for i in range(300):\n"
        "    p.produce('t', f'{sys.argv[2]}-{i}'.encode())\n"
        "    if i % 7 == 0: p.flush()\n"
        "p.close()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(bus.path), name], cwd=ROOT)
        for name in ("a", "b", "c")
    ]
    assert all(p.wait(60) == 0 for p in procs)
    c = bus.consumer("g")
    c.subscribe(["t"])
    got = c.poll(1.0, max_messages=10_000)
    assert [m.offset for m in got] == list(range(900))
    values = [m.value.decode() for m in got]
    assert len(set(values)) == 900
    for name in "abc":  # each producer's messages stay in its order
        mine = [int(v.split("-")[1]) for v in values if v.startswith(name)]
        assert mine == list(range(300))

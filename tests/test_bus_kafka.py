"""The Kafka bus adapter against a real Kafka-protocol broker (tansu): the same semantics the
embedded log offers (ordering per partition, keys, timestamps, manual commits, seek, resume)."""

from __future__ import annotations

import uuid

import pytest
from conftest import wait_for

from btcpulse.bus.base import Message, TopicPartition
from btcpulse.bus.kafka import BusError, KafkaBus
from btcpulse.testing.services import Broker


def _bus(broker: Broker) -> KafkaBus:
    return KafkaBus(broker.bootstrap, session_timeout_ms=6000)


def _topic(bus: KafkaBus, partitions: int = 1) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    bus.create_topics({name: partitions})
    return name


def _drain(consumer, want: int, timeout: float = 20.0) -> list[Message]:  # type: ignore[no-untyped-def]
    got: list[Message] = []

    def enough() -> bool:
        got.extend(consumer.poll(0.5, 1000))
        return len(got) >= want

    wait_for(enough, timeout, f"{want} messages")
    return got


def test_produce_consume_keys_timestamps_order(kafka_broker: Broker) -> None:
    bus = _bus(kafka_broker)
    topic = _topic(bus)
    p = bus.producer()
    for i in range(200):
        p.produce(
            topic, f"v{i}".encode(), key=f"k{i % 3}".encode(), timestamp_ms=1_700_000_000_000 + i
        )
    assert p.flush() == 0
    c = bus.consumer("g1")
    c.subscribe([topic])
    got = _drain(c, 200)
    assert [m.value for m in got] == [f"v{i}".encode() for i in range(200)]
    assert [m.offset for m in got] == list(range(200))
    assert got[5].key == b"k2" and got[5].timestamp_ms == 1_700_000_000_005
    c.close()


def test_keyed_partitions_and_commit_resume(kafka_broker: Broker) -> None:
    bus = _bus(kafka_broker)
    topic = _topic(bus, partitions=4)
    p = bus.producer()
    for i in range(400):
        p.produce(topic, str(i).encode(), key=f"venue{i % 7}".encode())
    p.flush()
    c = bus.consumer("g2")
    c.subscribe([topic])
    assert sorted(tp.partition for tp in c.assignment()) == [0, 1, 2, 3]
    first = _drain(c, 400)
    by_key: dict[bytes | None, set[int]] = {}
    for m in first:
        by_key.setdefault(m.key, set()).add(m.partition)
    assert all(len(parts) == 1 for parts in by_key.values())  # one key, one partition
    # Commit half way on each partition; a new consumer resumes exactly there.
    half = {tp: c.position(tp) // 2 for tp in c.assignment()}
    c.commit(half)
    c.close()
    c2 = bus.consumer("g2")
    c2.subscribe([topic])
    assert {tp: c2.committed(tp) for tp in half} == half
    rest = _drain(c2, sum(c2.end_offset(tp) - off for tp, off in half.items()))
    assert {(m.partition, m.offset) for m in rest} == {
        (m.partition, m.offset)
        for m in first
        if m.offset >= half[TopicPartition(topic, m.partition)]
    }
    c2.close()


def test_seek_latest_and_end_offset(kafka_broker: Broker) -> None:
    bus = _bus(kafka_broker)
    topic = _topic(bus)
    p = bus.producer()
    for i in range(50):
        p.produce(topic, str(i).encode())
    p.flush()
    late = bus.consumer("g3", "latest")
    late.subscribe([topic])
    tp = TopicPartition(topic, 0)
    assert late.poll(0.5) == []
    c = bus.consumer("g4")
    c.subscribe([topic])
    c.seek(tp, 40)
    got = _drain(c, 10)
    assert [m.offset for m in got] == list(range(40, 50))
    assert c.end_offset(tp) == 50
    p.produce(topic, b"new")
    p.flush()
    assert [m.value for m in _drain(late, 1)] == [b"new"]
    late.close()
    c.close()


def test_unreachable_broker_is_a_clear_error() -> None:
    bus = KafkaBus("127.0.0.1:9", extra={"socket.connection.setup.timeout.ms": 1000})
    with pytest.raises(BusError, match="unreachable"):
        bus.ping(timeout=2.0)


def test_topics_are_created_with_the_log_retention(kafka_broker: Broker) -> None:
    from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

    from btcpulse.bus.factory import log_retention_ms
    from btcpulse.config import Settings

    ms = log_retention_ms(Settings(retention_log_days=2.5, _env_file=None))  # type: ignore[call-arg]
    assert ms == 216_000_000
    bus = _bus(kafka_broker)
    name = f"t-{uuid.uuid4().hex[:8]}"
    bus.create_topics({name: 1}, retention_ms=ms)
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    (future,) = admin.describe_configs([ConfigResource("topic", name)]).values()
    assert future.result(timeout=10)["retention.ms"].value == str(ms)

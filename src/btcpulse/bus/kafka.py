"""The Kafka bus (distributed mode), on confluent-kafka (librdkafka).

Same semantics as the embedded log: keyed, timestamped messages in partitions; a consumer is
*assigned* every partition of the topics it subscribes to (no rebalancing: the engine's offsets
live in its store or checkpoint, and every web replica must read the whole updates topic), it
starts from the group's committed offsets or the reset policy, and commits by hand. The
producer is idempotent; nothing relies on Kafka transactions.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Literal

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    KafkaError,
    KafkaException,
)
from confluent_kafka import Consumer as _Consumer
from confluent_kafka import Producer as _Producer
from confluent_kafka import TopicPartition as _TP
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from btcpulse.bus.base import Message, TopicPartition

if TYPE_CHECKING:
    from btcpulse.config import Settings


class BusError(RuntimeError):
    """The broker refused or lost a message, or cannot be reached."""


def fetched_end(consumer: Any, topic: str, partition: int, listed: int) -> int:
    """A partition's real end, given the ListOffsets(latest) answer ``listed``. Some
    Kafka-protocol brokers answer it with the base offset of the last record batch + 1; the
    high watermark a fetch carries is right, so fetch the last listed record once and take
    the larger value. Leaves ``consumer`` assigned to that partition."""
    if listed <= 0:
        return listed
    consumer.assign([_TP(topic, partition, listed - 1)])
    consumer.consume(num_messages=1, timeout=2.0)
    cached = consumer.get_watermark_offsets(_TP(topic, partition), cached=True)
    return max(listed, int(cached[1]) if cached and cached[1] is not None else 0)


class KafkaBus:
    """A handle on a Kafka cluster; hands out producers and consumers, creates topics."""

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "btcpulse",
        session_timeout_ms: int = 10000,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.session_timeout_ms = session_timeout_ms
        self.extra = dict(extra or {})

    @classmethod
    def from_settings(cls, settings: Settings, *, client_id: str = "btcpulse") -> KafkaBus:
        """The configured cluster, with its TLS/SASL settings (``kafka_security_protocol``...)
        in every producer, consumer and admin client: the way every process opens it."""
        from btcpulse.security.transport import kafka_client_config

        return cls(
            settings.kafka_bootstrap,
            client_id=client_id,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            extra=kafka_client_config(settings),
        )

    def __repr__(self) -> str:  # the extra config can hold a SASL password
        return f"KafkaBus({self.bootstrap!r}, client_id={self.client_id!r})"

    def _base(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap, "client.id": self.client_id, **self.extra}

    def producer(self) -> KafkaProducer:
        return KafkaProducer(self._base())

    def consumer(
        self, group: str, auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    ) -> KafkaConsumer:
        conf = {
            **self._base(),
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": auto_offset_reset,
            "session.timeout.ms": self.session_timeout_ms,
            "enable.partition.eof": False,
            # A live pipeline: answer a fetch within 50 ms rather than the broker's default
            # 500 ms wait for more data (that wait was a third of the bus → browser latency).
            "fetch.wait.max.ms": 50,
        }
        return KafkaConsumer(conf, group, auto_offset_reset)

    def create_topics(
        self, topics: dict[str, int], timeout: float = 15.0, retention_ms: int | None = None
    ) -> None:
        """Create ``{topic: partitions}`` (with ``retention.ms`` when given); topics that exist
        already are left as they are."""
        admin = AdminClient(self._base())
        config = {"retention.ms": str(retention_ms)} if retention_ms else {}
        futures = admin.create_topics(
            [
                NewTopic(name, num_partitions=n, replication_factor=-1, config=config)
                for name, n in topics.items()
            ],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        for name, fut in futures.items():
            try:
                fut.result(timeout=timeout)
            except KafkaException as exc:
                err = exc.args[0]
                if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise BusError(f"cannot create topic {name}: {err}") from exc

    def topic_partitions(self, topic: str, timeout: float = 10.0) -> int:
        md = AdminClient(self._base()).list_topics(topic=topic, timeout=timeout)
        meta = md.topics.get(topic)
        if meta is None or meta.error is not None:
            raise BusError(f"topic {topic} unknown: {meta.error if meta else 'no metadata'}")
        return len(meta.partitions)

    def ping(self, timeout: float = 5.0) -> int:
        """Number of brokers that answer; raises :class:`BusError` when none does, with the
        reason librdkafka gave (a refused TLS certificate, a failed SASL login...)."""
        seen: list[str] = []
        conf: dict[str, Any] = {**self._base(), "error_cb": lambda err: seen.append(err.str())}
        admin = AdminClient(conf)
        try:
            md = admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            admin.poll(0)  # serves error_cb
            why = next((e for e in seen if "brokers are down" not in e), None)
            detail = f"; {why}" if why else ""
            raise BusError(f"Kafka at {self.bootstrap} unreachable: {exc}{detail}") from exc
        return len(md.brokers)


class KafkaProducer:
    def __init__(self, conf: dict[str, Any]) -> None:
        self._p = _Producer(
            {
                **conf,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
            }
        )
        self._failed: list[str] = []
        self._lock = threading.Lock()

    def _delivered(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            with self._lock:
                self._failed.append(str(err))

    def produce(
        self, topic: str, value: bytes, *, key: bytes | None = None, timestamp_ms: int | None = None
    ) -> None:
        kwargs: dict[str, Any] = {"key": key, "on_delivery": self._delivered}
        if timestamp_ms is not None:
            kwargs["timestamp"] = int(timestamp_ms)
        while True:
            try:
                self._p.produce(topic, value, **kwargs)
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._p.poll(0.1)

    def flush(self, timeout: float = 10.0) -> int:
        left = int(self._p.flush(timeout))
        with self._lock:
            failed, self._failed = self._failed, []
        if failed:
            raise BusError(f"{len(failed)} message(s) not delivered: {failed[0]}")
        return left

    def close(self) -> None:
        self._p.flush(10.0)


class KafkaConsumer:
    def __init__(
        self, conf: dict[str, Any], group: str, reset: Literal["earliest", "latest"]
    ) -> None:
        self._c = _Consumer(conf)
        self.group = group
        self._reset = reset
        self._positions: dict[TopicPartition, int] = {}
        self._conf = conf

    # -- assignment -------------------------------------------------------------------------
    def subscribe(self, topics: list[str]) -> None:
        md = self._c.list_topics(timeout=10.0)
        tps: list[TopicPartition] = []
        for topic in topics:
            meta = md.topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                # Auto-created on first use by most brokers; ask once more for this topic.
                meta = self._c.list_topics(topic=topic, timeout=10.0).topics.get(topic)
            if meta is None or not meta.partitions:
                raise BusError(f"topic {topic} does not exist on {self._conf['bootstrap.servers']}")
            tps += [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        for tp in tps:
            if tp in self._positions:
                continue
            committed = self.committed(tp)
            if committed is not None:
                self._positions[tp] = committed
            else:
                self._positions[tp] = (
                    self._true_end(tp) if self._reset == "latest" else OFFSET_BEGINNING
                )
        self._assign()

    def _true_end(self, tp: TopicPartition) -> int:
        _, listed = self._c.get_watermark_offsets(_TP(tp.topic, tp.partition), timeout=10.0)
        end = fetched_end(self._c, tp.topic, tp.partition, int(listed))
        self._c.unassign()
        return end

    def _assign(self) -> None:
        self._c.assign([_TP(tp.topic, tp.partition, off) for tp, off in self._positions.items()])

    def assignment(self) -> list[TopicPartition]:
        return list(self._positions)

    # -- reading ----------------------------------------------------------------------------
    def poll(self, timeout: float, max_messages: int = 1000) -> list[Message]:
        raw = self._c.consume(num_messages=max_messages, timeout=max(timeout, 0.0))
        out: list[Message] = []
        for m in raw:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise BusError(f"consumer failed: {err}")
                continue  # transient broker errors are retried by librdkafka
            tp = TopicPartition(str(m.topic()), int(m.partition() or 0))
            offset = int(m.offset() or 0)
            _ts_type, ts = m.timestamp()
            out.append(Message(tp.topic, tp.partition, offset, m.key(), m.value() or b"", int(ts)))
            self._positions[tp] = offset + 1
        return out

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._positions[tp] = offset
        self._assign()  # a re-assign works before the first fetch too, unlike seek()

    def position(self, tp: TopicPartition) -> int:
        pos = self._positions[tp]
        if pos >= 0:
            return pos
        low, high = self._c.get_watermark_offsets(_TP(tp.topic, tp.partition), timeout=10.0)
        return int(high if pos == OFFSET_END else low)

    def end_offset(self, tp: TopicPartition) -> int:
        """The high watermark. The value carried by fetch responses (cached) is preferred: a
        ListOffsets(latest) answer can lag behind on some brokers after batched produces."""
        ktp = _TP(tp.topic, tp.partition)
        _, listed = self._c.get_watermark_offsets(ktp, timeout=10.0)
        cached = self._c.get_watermark_offsets(ktp, cached=True)
        fetched = int(cached[1]) if cached and cached[1] is not None and cached[1] >= 0 else 0
        return max(int(listed), fetched)

    # -- offsets ----------------------------------------------------------------------------
    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        items = offsets if offsets is not None else self._positions
        tps = [_TP(tp.topic, tp.partition, off) for tp, off in items.items() if off >= 0]
        if tps:
            self._c.commit(offsets=tps, asynchronous=False)

    def committed(self, tp: TopicPartition) -> int | None:
        got = self._c.committed([_TP(tp.topic, tp.partition)], timeout=10.0)
        off = got[0].offset if got else -1
        return None if off is None or off < 0 else int(off)

    def lag(self) -> int:
        return sum(max(self.end_offset(tp) - self.position(tp), 0) for tp in self._positions)

    def close(self) -> None:
        self._c.close()

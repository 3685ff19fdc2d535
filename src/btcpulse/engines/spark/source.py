"""A Spark streaming source that reads Kafka topics through confluent-kafka (Python Data Source
API), for clusters without the JVM Kafka connector.

One input partition per Kafka topic-partition; an offset is ``{"topic:partition": next}``; the
offsets live in Spark's checkpoint (the truth for the distributed engine). ``read()`` runs on
the executors: it assigns its partition at the start offset and consumes exactly the messages
due. Registered under the name ``btcpulse_kafka``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql.datasource import (
    DataSource,
    DataSourceStreamReader,
    InputPartition,
)
from pyspark.sql.streaming.datasource import ReadLimit, ReadMaxRows
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

SCHEMA = StructType(
    [
        StructField("topic", StringType(), False),
        StructField("partition", IntegerType(), False),
        StructField("offset", LongType(), False),
        StructField("key", BinaryType(), True),
        StructField("value", BinaryType(), False),
        StructField("timestamp_ms", LongType(), False),
    ]
)


@dataclass
class KafkaRange(InputPartition):
    topic: str
    partition: int
    start: int
    end: int


def _conf(options: dict[str, str], group: str) -> dict[str, Any]:
    from btcpulse.security.transport import from_spark_options

    return {
        **from_spark_options(options),  # TLS/SASL: security.protocol, ssl.*, sasl.*
        "bootstrap.servers": options["bootstrap"],
        "group.id": group,
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "auto.offset.reset": "earliest",
        # Reads here always know their end: never let the broker hold a fetch for more data.
        "fetch.wait.max.ms": 10,
    }


class KafkaSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return "btcpulse_kafka"

    def schema(self) -> StructType:
        return SCHEMA

    def streamReader(self, schema: StructType) -> KafkaStreamReader:
        return KafkaStreamReader(dict(self.options))


class KafkaStreamReader(DataSourceStreamReader):
    def __init__(self, options: dict[str, str]) -> None:
        options = {k.lower(): v for k, v in options.items()}  # Spark options ignore case
        self.options = options
        self.topics = [t for t in options["topics"].split(",") if t]
        self.max_rows = int(options.get("maxrecordsperbatch", "0") or 0)
        self._consumer: Any = None
        self._corrected: dict[str, tuple[int, int]] = {}  # partition → (listed end, true end)

    # -- driver side ------------------------------------------------------------------------
    def _client(self) -> Any:
        if self._consumer is None:
            from confluent_kafka import Consumer

            self._consumer = Consumer(_conf(self.options, "btcpulse-spark-offsets"))
        return self._consumer

    def _ends(self) -> dict[str, int]:
        """Each partition's end (``fetched_end``: the listed end can lag on some brokers)."""
        from confluent_kafka import TopicPartition

        from btcpulse.bus.kafka import fetched_end

        c = self._client()
        md = c.list_topics(timeout=10.0)
        out: dict[str, int] = {}
        for topic in self.topics:
            meta = md.topics.get(topic)
            if meta is None or not meta.partitions:
                continue
            for p in sorted(meta.partitions):
                key = f"{topic}:{p}"
                tp = TopicPartition(topic, p)
                _, listed = c.get_watermark_offsets(tp, timeout=10.0)
                seen = self._corrected.get(key)
                if seen is not None and seen[0] == listed:
                    out[key] = seen[1]  # no new record batch since: the end has not moved
                    continue
                hi = fetched_end(c, topic, p, int(listed))
                self._corrected[key] = (int(listed), hi)
                out[key] = hi
        c.unassign()
        return out

    def initialOffset(self) -> dict[str, int]:
        return {key: 0 for key in self._ends()}

    def getDefaultReadLimit(self) -> ReadLimit:
        from pyspark.sql.streaming.datasource import ReadAllAvailable

        return ReadMaxRows(self.max_rows) if self.max_rows > 0 else ReadAllAvailable()

    def latestOffset(self, start: dict[str, int], limit: ReadLimit) -> dict[str, int]:
        ends = self._ends()
        out = {key: max(int(start.get(key, 0)), end) for key, end in ends.items()}
        if isinstance(limit, ReadMaxRows) and limit.max_rows > 0:
            budget = limit.max_rows
            capped: dict[str, int] = {}
            for key in sorted(out):
                begin = int(start.get(key, 0))
                take = min(out[key] - begin, max(budget, 0))
                capped[key] = begin + take
                budget -= take
            out = capped
        return out

    def partitions(self, start: dict[str, int], end: dict[str, int]) -> Sequence[KafkaRange]:
        parts = []
        for key, stop in sorted(end.items()):
            begin = int(start.get(key, 0))
            if stop > begin:
                topic, _, p = key.rpartition(":")
                parts.append(KafkaRange(topic, int(p), begin, int(stop)))
        return parts

    def commit(self, end: dict[str, int]) -> None:
        pass  # the checkpoint is the truth; nothing to tell the broker

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    # -- executor side ----------------------------------------------------------------------
    def read(self, partition: InputPartition) -> Iterator[tuple[Any, ...]]:
        from confluent_kafka import Consumer, KafkaError, TopicPartition

        assert isinstance(partition, KafkaRange)

        c = Consumer(_conf(self.options, "btcpulse-spark-reader"))
        try:
            c.assign([TopicPartition(partition.topic, partition.partition, partition.start)])
            nxt = partition.start
            idle = 0
            while nxt < partition.end:
                # Ask for no more than what is due, or consume() waits out its timeout.
                batch = c.consume(num_messages=min(partition.end - nxt, 10000), timeout=1.0)
                if not batch:
                    idle += 1
                    if idle > 60:
                        raise TimeoutError(
                            f"{partition.topic}[{partition.partition}] stalled at {nxt}"
                        )
                    continue
                idle = 0
                for m in batch:
                    err = m.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            continue
                        raise RuntimeError(f"Kafka read failed: {err}")
                    off = int(m.offset() or 0)
                    if off < nxt or off >= partition.end:
                        continue
                    nxt = off + 1
                    yield (
                        partition.topic,
                        partition.partition,
                        off,
                        m.key(),
                        m.value() or b"",
                        int(m.timestamp()[1]),
                    )
        finally:
            c.close()

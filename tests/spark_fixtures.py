"""The distributed stack for the kill and fault tests: a Spark standalone cluster (module
fixture), topics of a fresh tag on the session's Kafka broker, a fresh PostgreSQL database,
and the settings/environment of a ``btcpulse spark job`` on them. (``test_distributed.py``
keeps its own copy of the cluster fixture.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chaos import KEEP, base_env

from btcpulse.bus.base import TopicPartition
from btcpulse.bus.factory import bus_topics
from btcpulse.bus.kafka import KafkaBus
from btcpulse.config import Settings
from btcpulse.store.db import Store
from btcpulse.store.writes import get_offsets
from btcpulse.testing.services import Broker, Postgres

BATCH_MARK = "__spark_batch__"  # btcpulse.engines.spark.job.BATCH_MARK (no pyspark import)


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        from btcpulse.engines.spark.cluster import start_cluster
    except ImportError as exc:  # pyspark is the optional 'distributed' extra
        if os.environ.get("BTCPULSE_REQUIRE_SERVICES") == "1":
            raise
        pytest.skip(f"pyspark not installed: {exc}")
    cluster = start_cluster(tmp_path_factory.mktemp("spark"), workers=2, cores=1, memory="1g")
    yield cluster
    cluster.stop()


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    kafka: KafkaBus
    store: Store

    @property
    def inputs(self) -> set[str]:
        return {self.settings.topic_news, self.settings.topic_prices}


def distributed_stack(
    root: Path,
    broker: Broker,
    pg: Postgres,
    *,
    bootstrap: str | None = None,
    spark_master: str = "local[1]",
    **kw: Any,
) -> Stack:
    """Fresh topics and database; ``bootstrap`` is where the processes reach the broker (a
    proxy, say), the test itself always reaches it directly."""
    tag = os.urandom(3).hex()
    topics = {
        "topic_news": f"news.raw.{tag}",
        "topic_prices": f"prices.ticks.{tag}",
        "topic_updates": f"analytics.updates.{tag}",
        "topic_deadletters": f"deadletters.{tag}",
    }
    url = pg.new_database("chaos")
    s = Settings(
        mode="distributed",
        data_dir=root,
        store_url=url,
        kafka_bootstrap=bootstrap or broker.bootstrap,
        kafka_session_timeout_ms=6000,
        spark_master=spark_master,
        live_sources=False,
        _env_file=None,  # type: ignore[call-arg]
        **topics,
        **KEEP,
        **kw,
    )
    env = base_env(
        BTCPULSE_MODE="distributed",
        BTCPULSE_DATA_DIR=str(root),
        BTCPULSE_STORE_URL=url,
        BTCPULSE_KAFKA_BOOTSTRAP=s.kafka_bootstrap,
        BTCPULSE_KAFKA_SESSION_TIMEOUT_MS="6000",
        BTCPULSE_SPARK_MASTER=spark_master,
        BTCPULSE_SPARK_MAX_RECORDS_PER_BATCH=str(s.spark_max_records_per_batch),
        BTCPULSE_LOG_LEVEL=os.environ.get("CHAOS_LOG_LEVEL", "INFO"),
        BTCPULSE_LIVE_SOURCES="false",
        **{f"BTCPULSE_{k.upper()}": v for k, v in topics.items()},
        **{f"BTCPULSE_{k.upper()}": str(v) for k, v in KEEP.items()},
    )
    kafka = KafkaBus(broker.bootstrap, session_timeout_ms=6000)
    kafka.create_topics(bus_topics(s))
    store = Store(url)
    store.migrate()
    return Stack(s, env, kafka, store)


def spark_applied(store: Store, topics: set[str]) -> tuple[int, int]:
    """(messages of ``topics`` the store has applied, Spark batches applied)."""
    try:
        with store.read() as conn:
            offs = get_offsets(conn, "spark")
    except Exception:
        return 0, 0
    batches = offs.pop(TopicPartition(BATCH_MARK, 0), 0)
    return sum(v for tp, v in offs.items() if tp.topic in topics), batches

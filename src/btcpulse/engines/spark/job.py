"""The distributed engine: Spark Structured Streaming over Kafka, results in PostgreSQL.

The job is thin. Executors read the Kafka partitions (``btcpulse_kafka`` source) and run the
per-record, stateless analytics (parsing and validation of every event, headline sentiment)
through ``mapInArrow``; the driver's ``foreachBatch`` then applies the *same* batch code as the
embedded engine (store raw events, rewrite the touched candle windows, tag and cluster news,
derive bursts, index, impact and alerts) in one store transaction that also records the batch
id, and publishes the batch's updates and dead letters to Kafka.

Exactly-once effect: Spark's checkpoint holds the offsets; a batch Spark replays after a crash
finds its id already recorded in the store and is skipped (its updates were stored with it and
reach browsers through ``/api/v1/updates``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import structlog

from btcpulse.analytics.sentiment import SentimentScorer
from btcpulse.config import Settings
from btcpulse.engines.stats import EngineStats

log = structlog.get_logger("spark")

BATCH_MARK = "__spark_batch__"
RETAIN_EVERY_S = 3600.0  # retention of raw rows, on the driver after a batch
LAG_EVERY_S = 5.0  # consumer lag for /metrics, on the driver after a batch


def checkpoint_dir(settings: Settings) -> Path:
    return settings.spark_checkpoint_dir or settings.data_dir / "spark-checkpoint"


def build_session(settings: Settings, app_name: str = "btcpulse-engine") -> Any:
    from pyspark.sql import SparkSession

    # Python workers (executors, data source planning) run this same Python, where the
    # btcpulse package is installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(app_name)
        .master(settings.spark_master)
        .config("spark.sql.shuffle.partitions", str(max(settings.kafka_partitions, 2)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        # executors run this same Python, where the btcpulse package is installed
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
        .config("spark.sql.streaming.stopGracefullyOnShutdown", "true")
        .config("spark.python.worker.reuse", "true")
    )
    return builder.getOrCreate()


_SCORERS: dict[str, SentimentScorer] = {}


def _scorer(model: str) -> SentimentScorer:
    """The sentiment model, loaded once per Python worker (workers are reused across tasks
    and batches; loading takes seconds, scoring a headline microseconds) and only when a
    batch carries headlines."""
    if model not in _SCORERS:
        from btcpulse.analytics.sentiment import make_scorer

        _SCORERS[model] = make_scorer(model)
    return _SCORERS[model]


def enrich_arrow(batches: Iterator[Any], model: str) -> Iterator[Any]:
    """Executors: validate every message with the shared event schema and score headlines
    with the shared sentiment model; the driver trusts these columns instead of redoing them.
    A headline whose copy is in a language the model does not know is not scored (the driver
    decides on the merged article's language, with the same rule, and scores what it lacks)."""
    import pyarrow as pa

    from btcpulse.engines.news import copy_languages
    from btcpulse.events import NewsItem, parse_event

    for batch in batches:
        cols = batch.to_pydict()
        kinds: list[str] = []
        news: dict[int, NewsItem] = {}
        for i, (topic, part, off, value) in enumerate(
            zip(cols["topic"], cols["partition"], cols["offset"], cols["value"], strict=True)
        ):
            ev = parse_event(value, source=f"{topic}[{part}]@{off}")
            kinds.append(ev.type)
            if isinstance(ev, NewsItem):
                news[i] = ev
        scores: list[float | None] = [None] * len(kinds)
        if news:
            scorer = _scorer(model)
            langs = copy_languages(list(news.values()))
            idx = [i for i, lang in zip(news, langs, strict=True) if lang in scorer.languages]
            got = scorer.scores([news[i].title for i in idx]) if idx else []
            for i, s in zip(idx, got, strict=True):
                scores[i] = float(s)
        yield batch.append_column("kind", pa.array(kinds, pa.string())).append_column(
            "sentiment", pa.array(scores, pa.float64())
        )


class PrecomputedScorer:
    """The driver's scorer: the executors' scores for this batch's headlines, the model
    itself for anything else (same model, same numbers)."""

    def __init__(self, model: SentimentScorer, known: dict[str, float]) -> None:
        self.model = model
        self.version = model.version
        self.languages = model.languages
        self.known = known

    def scores(self, texts: Sequence[str]) -> list[float]:
        missing = [t for t in texts if t not in self.known]
        if missing:
            self.known.update(zip(missing, self.model.scores(missing), strict=True))
        return [self.known[t] for t in texts]


class BatchSink:
    """``foreachBatch`` on the driver: apply, record the batch id, publish."""

    def __init__(self, settings: Settings) -> None:
        from btcpulse.analytics.alert_rules import parse_rules
        from btcpulse.analytics.sentiment import make_scorer
        from btcpulse.bus.kafka import KafkaBus
        from btcpulse.store.db import Store

        self.s = settings
        self.store = Store.from_settings(settings)
        self.store.migrate()
        bus = KafkaBus.from_settings(settings)
        self.producer = bus.producer()
        self.lag_probe = bus.consumer("btcpulse-spark-lag")  # reads end offsets only
        self.scorer = make_scorer(settings.sentiment_model)
        self.rules = parse_rules(settings.alert_rules)
        self.stats = EngineStats(engine="spark")
        self.lag: int | None = None
        self._last_lag = 0.0
        self._positions: dict[Any, int] | None = None  # input partition → next offset stored
        self._last_retain = time.monotonic()  # the first pass an hour after start

    def _retain(self) -> None:
        """Raw trades and article text past their age (Kafka ages out its own messages)."""
        from btcpulse.store.retention import apply_retention
        from btcpulse.timeutil import utcnow

        with self.store.begin() as conn:
            removed = apply_retention(
                conn,
                utcnow(),
                trades_days=self.s.retention_trades_days,
                article_text_days=self.s.retention_article_text_days,
                logs_days=self.s.retention_logs_days,
            )
        if removed.trades or removed.article_texts or removed.logs:
            log.info(
                "spark.retention",
                trades=removed.trades,
                article_texts=removed.article_texts,
                log_records=removed.logs,
            )

    def _report_lag(self, done: dict[Any, int]) -> None:
        """Messages on the input topics past what the store holds (every few seconds: each
        probe asks the brokers for every partition's end offset)."""
        from btcpulse.store.writes import put_state

        if time.monotonic() - self._last_lag < LAG_EVERY_S:
            return
        self._last_lag = time.monotonic()
        self.lag = sum(max(self.lag_probe.end_offset(tp) - off, 0) for tp, off in done.items())
        with self.store.begin() as conn:
            put_state(conn, "engine", self.stats.state(self.lag))

    def __call__(self, df: Any, batch_id: int) -> None:
        from btcpulse.bus.base import Message, TopicPartition
        from btcpulse.engines.batch import apply_batch
        from btcpulse.engines.derived import derive
        from btcpulse.events import encode
        from btcpulse.store.alert_rules import active_rules
        from btcpulse.store.writes import (
            get_offsets,
            put_health,
            put_offsets,
            put_state,
            put_updates,
        )
        from btcpulse.timeutil import utcnow

        t0 = time.perf_counter()
        table = df.toArrow()  # runs the batch's Spark job (executors) and collects it
        t1 = time.perf_counter()
        rows = sorted(
            zip(
                table.column("topic").to_pylist(),
                table.column("partition").to_pylist(),
                table.column("offset").to_pylist(),
                table.column("key").to_pylist(),
                table.column("value").to_pylist(),
                table.column("timestamp_ms").to_pylist(),
                strict=True,
            ),
            key=lambda r: (r[0], r[1], r[2]),
        )
        msgs = [Message(t, int(p), int(o), k, bytes(v), int(ts)) for t, p, o, k, v, ts in rows]
        known: dict[str, float] = {}
        for value, kind, score in zip(
            table.column("value").to_pylist(),
            table.column("kind").to_pylist(),
            table.column("sentiment").to_pylist(),
            strict=True,
        ):
            if kind == "news" and score is not None:
                known[_title(value)] = float(score)
        scorer = PrecomputedScorer(self.scorer, known)
        offsets: dict[TopicPartition, int] = {}
        for m in msgs:
            offsets[m.tp] = max(offsets.get(m.tp, 0), m.offset + 1)
        with self.store.begin() as conn:
            done = get_offsets(conn, "spark").get(TopicPartition(BATCH_MARK, 0), 0)
            if batch_id < done:
                log.info("spark.batch.skipped", batch_id=batch_id, reason="already in the store")
                return
            outcome = apply_batch(conn, msgs, scorer, self.s.topic_deadletters)
            now = utcnow()
            rules = active_rules(conn, self.rules)
            for replay, touched in outcome.touched.items():
                outcome.updates += derive(conn, replay, touched, now, self.scorer.version, rules)
            stored = put_updates(conn, outcome.updates)
            put_offsets(conn, "spark", {**offsets, TopicPartition(BATCH_MARK, 0): batch_id + 1})
            if self._positions is None:
                self._positions = get_offsets(conn, "spark")
                self._positions.pop(TopicPartition(BATCH_MARK, 0), None)
            self._positions.update(offsets)
            self.stats.record(
                msgs,
                updates=len(stored),
                dead_letters=len(outcome.dead_letters),
                seconds=time.perf_counter() - t0,
                now_ms=int(time.time() * 1000),
            )
            put_state(conn, "engine", self.stats.state(self.lag))
            put_health(
                conn,
                "engine",
                kind="engine",
                status="up",
                ok=True,
                items=len(msgs),
                detail=f"spark batch {batch_id} · {self.stats.messages} messages",
            )
        for u in stored:
            self.producer.produce(self.s.topic_updates, encode(u), key=u.key.encode())
        for dl in outcome.dead_letters:
            self.producer.produce(self.s.topic_deadletters, encode(dl), key=dl.error_id.encode())
        self.producer.flush()
        self._report_lag(self._positions)
        if time.monotonic() - self._last_retain >= RETAIN_EVERY_S:
            self._last_retain = time.monotonic()
            self._retain()
        log.info(
            "spark.batch",
            batch_id=batch_id,
            messages=len(msgs),
            updates=len(stored),
            collect_s=round(t1 - t0, 4),
            apply_s=round(time.perf_counter() - t1, 4),
        )


def _title(value: bytes) -> str:
    import json

    return str(json.loads(value)["title"])


def start_query(spark: Any, settings: Settings, *, available_now: bool = False) -> Any:
    from btcpulse.engines.spark.source import KafkaSource
    from btcpulse.security.transport import spark_source_options

    spark.dataSource.register(KafkaSource)
    topics = [settings.topic_news, settings.topic_prices, settings.topic_deadletters]
    raw = (
        spark.readStream.format("btcpulse_kafka")
        .option("bootstrap", settings.kafka_bootstrap)
        .options(**spark_source_options(settings))  # TLS/SASL of the executors' consumers
        .option("topics", ",".join(topics))
        .option("maxRecordsPerBatch", str(settings.spark_max_records_per_batch))
        .load()
    )
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    model = settings.sentiment_model
    schema = StructType(
        [
            *raw.schema.fields,
            StructField("kind", StringType()),
            StructField("sentiment", DoubleType()),
        ]
    )
    enriched = raw.mapInArrow(lambda it: enrich_arrow(it, model), schema)
    sink = BatchSink(settings)
    writer = enriched.writeStream.foreachBatch(sink).option(
        "checkpointLocation", str(checkpoint_dir(settings))
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{settings.spark_trigger_s} seconds")
    return writer.start()


def run(settings: Settings, stop: threading.Event | None = None) -> None:
    """Run the streaming job until SIGTERM/SIGINT (or ``stop``), then stop the query cleanly:
    a driver blocked in ``awaitTermination`` does not end on SIGTERM by itself."""
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    spark = build_session(settings)
    query = start_query(spark, settings)
    log.info(
        "spark.started", master=settings.spark_master, checkpoint=str(checkpoint_dir(settings))
    )
    try:
        while not stop.is_set() and query.isActive:
            stop.wait(0.5)
        if query.exception() is not None:
            raise RuntimeError(f"streaming query failed: {query.exception()}")
    finally:
        query.stop()
        spark.stop()

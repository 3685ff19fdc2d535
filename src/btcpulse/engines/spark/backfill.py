"""Backfill: run the streaming job once over everything already in the input topics, then stop.

The same query as ``btcpulse spark job`` with ``trigger(availableNow=True)``: Spark plans the
backlog into micro-batches (``BTCPULSE_SPARK_MAX_RECORDS_PER_BATCH`` each) and the query ends
once it has caught up. Used to load history and by the benchmarks (throughput per worker count).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from btcpulse.config import Settings
from btcpulse.engines.spark.job import build_session, start_query


def _executors(spark: Any) -> int:
    """Executors registered with the driver (the driver itself is not counted)."""
    return max(0, len(spark.sparkContext.statusTracker().getExecutorInfos()) - 1)


def run_until_caught_up(
    settings: Settings,
    *,
    min_executors: int = 0,
    executor_timeout_s: float = 120.0,
    on_ready: Callable[[], None] | None = None,
    before_stop: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Apply every message in the input topics, then stop.

    Returns ``{"messages", "batches", "seconds"}``; ``seconds`` runs from the query's start to
    its end, so session startup (and waiting for ``min_executors`` to register) is excluded.
    ``on_ready`` is called just before the query starts, ``before_stop`` with the result before
    the session is stopped (its executors are still alive then).
    """
    spark = build_session(settings, app_name="btcpulse-backfill")
    try:
        deadline = time.monotonic() + executor_timeout_s
        while _executors(spark) < min_executors:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{min_executors} executor(s) not registered within {executor_timeout_s} s"
                )
            time.sleep(0.2)
        if on_ready is not None:
            on_ready()
        t0 = time.perf_counter()
        query = start_query(spark, settings, available_now=True)
        query.awaitTermination()
        seconds = time.perf_counter() - t0
        if query.exception() is not None:
            raise RuntimeError(f"backfill query failed: {query.exception()}")
        batches = 0
        messages = 0
        for p in query.recentProgress:
            if int(p.numInputRows) > 0:
                batches += 1
                messages += int(p.numInputRows)
        result: dict[str, Any] = {"messages": messages, "batches": batches, "seconds": seconds}
        if before_stop is not None:
            before_stop(result)
        return result
    finally:
        spark.stop()

"""Incremental results equal one batch over the same input: the recorded input (real news,
bars and trades, plus broken messages) through the embedded engine in one batch, and in
micro-batches of a few hundred messages arriving over four partitions, give the same store."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES, REPLAY, drain_engine
from distributed_input import produce_all, recorded_messages
from parity import assert_same_store, rows_of

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.config import Settings
from btcpulse.store.db import Store


def _run(tmp: Path, name: str, max_batch: int, partitions: int) -> Store:
    s = Settings(
        data_dir=tmp / name,
        engine_max_batch=max_batch,
        live_sources=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    store = Store(s.resolved_store_url)
    store.migrate()
    bus = EmbeddedLog(s.resolved_bus_path, default_partitions=partitions)
    produce_all(bus.producer(), recorded_messages(s, REPLAY, FIXTURES))
    drain_engine(s, store, bus)
    return store


@pytest.mark.slow
def test_micro_batches_over_partitions_equal_one_batch(tmp_path: Path) -> None:
    whole = _run(tmp_path, "whole", 10_000, 1)
    pieces = _run(tmp_path, "pieces", 350, 4)
    counts = assert_same_store(whole, pieces)
    assert counts["news"] > 40 and counts["candles"] > 1000 and counts["bursts"] > 0
    # the French articles: tagged, never scored (no enrichment row), the same in both runs
    french = {r["id"] for r in rows_of(whole, "news") if r["lang"] == "fr"}
    assert len(french) >= 10
    assert not french & {r["news_id"] for r in rows_of(whole, "enrichments")}
    assert french <= {r["news_id"] for r in rows_of(whole, "news_tags")}

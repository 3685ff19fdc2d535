"""Operations: per-stage Prometheus metrics during a replay, and warnings/errors of every
process kept in the store's ``logs`` table (with secrets redacted)."""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from conftest import child_env, wait_for
from harness import Running
from news_server import NewsServer, news_server
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from btcpulse.config import Settings
from btcpulse.logs import StoreLogSink, configure
from btcpulse.store import schema as t
from btcpulse.store.db import Store


@pytest.fixture
def server() -> Iterator[NewsServer]:
    with news_server() as srv:
        yield srv


def _logs(store: Store) -> list[dict[str, object]]:
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(t.logs).order_by(t.logs.c.time))]


@pytest.fixture
def sink_logging(store: Store) -> Iterator[StoreLogSink]:
    sink = StoreLogSink(lambda: store, "test")
    configure("INFO", json_logs=True, sink=sink)
    yield sink
    configure("INFO", json_logs=False)  # later tests log to stderr only
    logging.getLogger().handlers = [
        h for h in logging.getLogger().handlers if type(h).__name__ != "_StdlibHandler"
    ]


def test_warnings_and_errors_are_kept_in_the_store_redacted(
    store: Store, sink_logging: StoreLogSink, capsys: pytest.CaptureFixture[str]
) -> None:
    log = structlog.get_logger("collector")
    log.info("only.on.stderr", n=1)
    log.warning("feed.down", source="coindesk", api_token="s3cr3t-value", reason="HTTP 503")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("poll.crashed", source="coindesk")
    logging.getLogger("somelib").warning("library says %s", "careful")
    assert sink_logging.flush(10), "the sink did not write its records"
    rows = _logs(store)
    assert [(r["level"], r["logger"], r["event"]) for r in rows] == [
        ("warning", "collector", "feed.down"),
        ("error", "collector", "poll.crashed"),
        ("warning", "somelib", "library says careful"),
    ]
    assert {r["component"] for r in rows} == {"test"}
    first = json.loads(str(rows[0]["fields"]))
    assert first == {"source": "coindesk", "api_token": "[redacted]", "reason": "HTTP 503"}
    assert "ValueError: boom" in json.loads(str(rows[1]["fields"]))["exception"]
    err = capsys.readouterr().err
    assert "only.on.stderr" in err and "feed.down" in err
    assert "s3cr3t-value" not in err + repr(rows)


def test_records_wait_for_an_unreachable_store_and_are_written_when_it_answers(
    store: Store,
) -> None:
    reachable = False

    def open_store() -> Store:
        if not reachable:
            raise ConnectionError("database is down")
        return store

    sink = StoreLogSink(open_store, "engine", flush_every_s=0.05)
    sink.put("error", "engine", "batch.failed", {"n": 1})
    assert not sink.flush(1.5)  # kept, not written, not raised
    assert _logs(store) == []
    reachable = True
    sink.put("warning", "engine", "recovered", {})
    assert sink.flush(10)
    assert [r["event"] for r in _logs(store)] == ["batch.failed", "recovered"]
    assert sink.dropped == 0


def test_an_error_in_a_collector_appears_in_the_logs_table(
    settings: Settings, store: Store, server: NewsServer, tmp_path: Path
) -> None:
    url = server.add("/feed", status=503)
    out = (tmp_path / "collector.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "btcpulse",
            "collect",
            "news",
            "--no-articles",
            "--feed",
            f"feed={url}",
        ],
        env=child_env(settings, BTCPULSE_LOG_JSON="true"),
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        rows = wait_for(
            lambda: [r for r in _logs(store) if r["event"] == "news.poll_failed"],
            60,
            "the collector's failure in the logs table",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        out.close()
    assert code == 0
    row = rows[0]
    assert row["level"] == "warning" and row["component"] == "collect news"
    fields = json.loads(str(row["fields"]))
    assert fields["source"] == "feed" and fields["reason"] == "HTTP 503 Service Unavailable"
    # the same record on stderr, as one JSON object per line
    lines = (tmp_path / "collector.log").read_text().splitlines()
    assert any(json.loads(x).get("event") == "news.poll_failed" for x in lines if x[:1] == "{")


def test_the_web_servers_own_errors_appear_in_the_logs_table(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """uvicorn logs under its own loggers: a request it cannot parse is in the logs table."""
    out = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "btcpulse", "serve"],
        env=child_env(settings),
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{settings.port}"
    try:
        wait_for(lambda: _answers(base + "/livez"), 60, "the web app to answer")
        with socket.create_connection(("127.0.0.1", settings.port), timeout=5) as sock:
            sock.sendall(b"NOT HTTP \x00\x01\r\n\r\n")
            assert sock.recv(200).startswith(b"HTTP/1.1 400")
        rows = wait_for(
            lambda: [r for r in _logs(store) if r["logger"] == "uvicorn.error"],
            30,
            "uvicorn's warning in the logs table",
        )
    finally:
        proc.send_signal(signal.SIGTERM)  # uvicorn shuts down, then re-raises SIGTERM: -15
        proc.wait(30)
        out.close()
    assert rows[0]["level"] == "warning" and rows[0]["component"] == "serve"
    assert "Invalid HTTP request" in str(rows[0]["event"])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_show_every_stage_during_a_replay(settings: Settings, tmp_path: Path) -> None:
    up = Running(settings, tmp_path / "up.log", BTCPULSE_REPLAY_SPEED="60")
    engine = (("stage", "engine"),)
    try:
        up.wait_ready()
        first = wait_for(
            lambda: (
                (m := _scrape(up.base))
                and m.get(("btcpulse_stage_events_in_total", engine), 0) > 0
                and m.get(("btcpulse_stage_events_out_total", (("stage", "replay"),)), 0) > 0
                and m.get(("btcpulse_batch_duration_seconds_count", (("engine", "embedded"),)), 0)
                > 0
                and m
            ),
            60,
            "the engine's and the replay's counters",
        )
        later = wait_for(
            lambda: (
                (m := _scrape(up.base))
                and m[("btcpulse_stage_events_in_total", engine)]
                > first[("btcpulse_stage_events_in_total", engine)]
                and m
            ),
            60,
            "the engine's counter to grow while the replay runs",
        )
    finally:
        assert up.stop() == 0
    assert later[("btcpulse_stage_events_out_total", engine)] > 0  # analytics updates
    assert later[("btcpulse_stage_events_in_total", (("stage", "web"),))] > 0  # pushed on
    assert later[("btcpulse_batch_duration_seconds_sum", (("engine", "embedded"),))] > 0
    assert ("btcpulse_consumer_lag_messages", (("consumer", "embedded"),)) in later
    assert 0 <= later[("btcpulse_pipeline_latency_seconds", (("engine", "embedded"),))] < 60
    assert later[("btcpulse_source_up", (("kind", "engine"), ("source", "engine")))] == 1
    for name in ("btcpulse_stage_errors_total", "btcpulse_dead_letters_total"):
        assert not [k for k in later if k[0] == name and later[k] < 0]


def test_retention_deletes_log_records_past_their_age(store: Store) -> None:
    from datetime import timedelta

    from btcpulse.store.retention import apply_retention
    from btcpulse.timeutil import utcnow

    now = utcnow()
    rows = [
        {"id": f"r{age}", "time": now - timedelta(days=age), "level": "warning"}
        | {"component": "engine", "logger": "engine", "event": f"{age} days old", "fields": "{}"}
        for age in (1, 29, 31, 90)
    ]
    with store.begin() as conn:
        conn.execute(t.logs.insert(), rows)
        removed = apply_retention(conn, now, trades_days=0, article_text_days=0, logs_days=30)
    assert removed.logs == 2
    assert [r["event"] for r in _logs(store)] == ["29 days old", "1 days old"]

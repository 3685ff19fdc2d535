"""Exports (API and CLI) equal what the API returns for the same range, in CSV and Parquet.

Real components: the replay bundle through the embedded bus and engine into SQLite; the app
in-process; the CLI as a subprocess.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import REPLAY, child_env, drain_engine
from fastapi.testclient import TestClient

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.collectors.replay.player import ReplayPlayer
from btcpulse.config import Settings
from btcpulse.events import NewsItem, encode
from btcpulse.store.db import Store
from btcpulse.web.app import create_app

VENUE = "replay:binanceus"
NOW = datetime.now(UTC).replace(microsecond=0)
RANGE = {"from": (NOW - timedelta(hours=24)).isoformat(), "to": NOW.isoformat()}
FORMULA_TITLE = '=HYPERLINK("http://evil.example","Bitcoin")'


@pytest.fixture
def client(settings: Settings, store: Store, bus: EmbeddedLog) -> Iterator[TestClient]:
    player = ReplayPlayer(load_bundle(REPLAY), settings, bus.producer(), store, speed=60)
    while player.emit_due():
        pass
    p = bus.producer()
    item = NewsItem(
        id="formula",
        source="replay:test",
        url="https://example.org/a",
        title=FORMULA_TITLE,
        summary="-1 for spreadsheets",
        published_at=NOW - timedelta(minutes=5),
        fetched_at=NOW,
    )
    p.produce(settings.topic_news, encode(item), key=item.id.encode())
    p.flush()
    drain_engine(settings, store, bus)
    with TestClient(create_app(settings)) as c:
        yield c


def _csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def _close(a: float | None, b: str) -> bool:
    return (a is None and b == "") or (a is not None and abs(a - float(b)) <= 1e-9 * abs(a))


def test_candles_csv_and_parquet_equal_the_api(client: TestClient) -> None:
    api = client.get("/api/v1/candles", params={"venue": VENUE, **RANGE}).json()
    assert api["resolution"] == "1m" and len(api["candles"]) > 1000
    r = client.get("/api/v1/export/candles", params={"venue": VENUE, "resolution": "1m", **RANGE})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = _csv(r.content)
    assert [int(x["t"]) for x in rows] == [c["t"] for c in api["candles"]]
    for mine, theirs in zip(rows, api["candles"], strict=True):
        for col in ("open", "high", "low", "close", "volume", "vwap"):
            assert _close(theirs[col], mine[col]), (col, mine, theirs)
        assert int(mine["trades"]) == theirs["trades"]
        assert datetime.fromisoformat(mine["time"]).timestamp() == theirs["t"]
    pr = client.get(
        "/api/v1/export/candles",
        params={"venue": VENUE, "resolution": "60", "format": "parquet", **RANGE},
    )
    assert pr.status_code == 200
    table = pq.read_table(io.BytesIO(pr.content))
    assert table.column("t").to_pylist() == [c["t"] for c in api["candles"]]
    assert table.column("close").to_pylist() == [c["close"] for c in api["candles"]]


def test_news_export_equals_the_api_and_defuses_formulas(client: TestClient) -> None:
    api = client.get("/api/v1/news", params={"limit": 500, **RANGE}).json()["items"]
    rows = _csv(client.get("/api/v1/export/news", params=RANGE).content)
    assert [x["id"] for x in rows] == [i["id"] for i in reversed(api)]  # oldest first
    by_id = {i["id"]: i for i in api}
    for row in rows:
        item: dict[str, Any] = by_id[row["id"]]
        assert row["sentiment_label"] == item["sentiment_label"]
        assert row["topics"].split(";") == (item["topics"] or [""])
        if row["id"] != "formula":
            assert row["title"] == item["title"]
    formula = next(x for x in rows if x["id"] == "formula")
    assert formula["title"] == "'" + FORMULA_TITLE and formula["summary"].startswith("'-1")
    table = pq.read_table(
        io.BytesIO(client.get("/api/v1/export/news", params={**RANGE, "format": "parquet"}).content)
    )
    assert FORMULA_TITLE in table.column("title").to_pylist()  # Parquet keeps values as they are


def test_analytics_export_equals_the_index_series(client: TestClient) -> None:
    series = client.get("/api/v1/index", params={"replay": True, **RANGE}).json()["series"]
    assert 0 < len(series) < 2000  # not thinned by the API
    rows = _csv(client.get("/api/v1/export/analytics", params={"replay": True, **RANGE}).content)
    assert [int(x["t"]) for x in rows] == [p["t"] for p in series]
    assert all(_close(p["value"], x["index"]) for p, x in zip(series, rows, strict=True))


def test_bad_export_requests_are_clear_errors(client: TestClient) -> None:
    r = client.get("/api/v1/export/candles", params=RANGE)
    assert r.status_code == 422 and "venue" in r.text
    r = client.get("/api/v1/export/candles", params={"venue": VENUE, "resolution": "2m"})
    assert r.status_code == 422 and "1s, 5s, 1m" in r.text
    r = client.get("/api/v1/export/news", params={"from": RANGE["to"], "to": RANGE["from"]})
    assert r.status_code == 422
    assert client.get("/api/v1/export/trades").status_code == 422
    assert client.get("/api/v1/export/news", params={"format": "xlsx"}).status_code == 422
    empty = client.get(
        "/api/v1/export/news", params={"from": "2001-01-01T00:00Z", "to": "2001-01-02T00:00Z"}
    )
    assert empty.status_code == 200 and _csv(empty.content) == []
    assert (
        pq.read_table(
            io.BytesIO(
                client.get(
                    "/api/v1/export/news",
                    params={
                        "from": "2001-01-01T00:00Z",
                        "to": "2001-01-02T00:00Z",
                        "format": "parquet",
                    },
                ).content
            )
        ).num_rows
        == 0
    )


def test_the_cli_writes_the_same_file_as_the_api(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "candles.parquet"
    args = ["export", "candles", "--venue", VENUE, "--format", "parquet", "-o", str(out)]
    args += ["--from", RANGE["from"], "--to", RANGE["to"]]
    res = subprocess.run(
        [sys.executable, "-m", "btcpulse", *args],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    api = client.get(
        "/api/v1/export/candles",
        params={"venue": VENUE, "format": "parquet", **RANGE},
    ).content
    assert pq.read_table(out).equals(pq.read_table(io.BytesIO(api)))
    assert "wrote" in res.stdout and not list(tmp_path.glob("*.part"))
    bad = subprocess.run(
        [sys.executable, "-m", "btcpulse", "export", "candles", "--from", "2026-01-01"],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "UTC offset" in bad.stderr

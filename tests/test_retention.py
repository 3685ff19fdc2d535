"""Retention: raw trades, article text and consumed log messages go past their age; every chart
and query over those ranges answers as before (from the candles and the news metadata).

Real components: the embedded log, the embedded engine, SQLite, the app in-process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import drain_engine
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from btcpulse.bus.base import TopicPartition
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.config import Settings
from btcpulse.events import NewsItem, Trade, encode
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.store.retention import apply_retention
from btcpulse.web.app import create_app

NOW = datetime.now(UTC).replace(microsecond=0)
VENUE = "testex"


def _feed(settings: Settings, bus: EmbeddedLog) -> None:
    """Three days of trades (one every 487 s, a random-ish walk) and articles with full text."""
    p = bus.producer()
    start = NOW - timedelta(days=3)
    price = 60_000.0
    for i in range(3 * 86_400 // 487):
        price *= 1 + ((i * 7919) % 13 - 6) / 10_000
        tr = Trade(
            exchange=VENUE,
            symbol="BTC-USD",
            trade_id=str(i),
            price=f"{price:.2f}",
            size="0.01",
            side="buy" if i % 2 else "sell",
            time=start + timedelta(seconds=487 * i),
        )
        p.produce(settings.topic_prices, encode(tr), key=f"{VENUE}:BTC-USD".encode())
    for day in range(3):
        item = NewsItem(
            id=f"a{day}",
            source="coindesk",
            url=f"https://example.org/{day}",
            title=f"Bitcoin day {day}",
            summary="Summary",
            body="Full text " * 50,
            published_at=start + timedelta(days=day, hours=1),
            fetched_at=start + timedelta(days=day, hours=1),
        )
        p.produce(settings.topic_news, encode(item), key=item.id.encode())
    p.flush()


def _answers(c: TestClient) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for span in ("1h", "24h", "72h", "all"):
        params: dict[str, str] = {"venue": VENUE, "to": NOW.isoformat()}
        if span != "all":
            params["from"] = (NOW - timedelta(hours=int(span[:-1]))).isoformat()
        out[span] = c.get("/api/v1/candles", params={**params}).json()
        out[span].pop("seq")
    news = c.get("/api/v1/news", params={"limit": 100}).json()["items"]
    out["news"] = [{k: v for k, v in i.items() if k != "has_body"} for i in news]
    out["index"] = c.get(
        "/api/v1/index", params={"from": (NOW - timedelta(days=3)).isoformat()}
    ).json()
    return out


def test_raw_rows_go_and_every_answer_stays(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    _feed(settings, bus)
    drain_engine(settings, store, bus)
    with TestClient(create_app(settings)) as c:
        before = _answers(c)
        assert len(before["72h"]["candles"]) > 200 and len(before["news"]) == 3
        with store.begin() as conn:
            removed = apply_retention(conn, NOW, trades_days=1, article_text_days=2)
        with store.read() as conn:
            kept = conn.execute(select(func.min(t.trades.c.time))).scalar_one()
            bodies = conn.execute(select(t.news.c.id).where(func.length(t.news.c.body) > 0))
            with_text = sorted(r[0] for r in bodies)
        assert 2 * 86_400 // 487 - 2 <= removed.trades <= 2 * 86_400 // 487 + 2
        assert kept >= NOW - timedelta(days=1)
        assert removed.article_texts == 1 and with_text == ["a1", "a2"]
        assert c.get("/api/v1/news/a0").json()["body"] == ""
        assert c.get("/api/v1/news/a2").json()["body"].startswith("Full text")
        assert _answers(c) == before  # charts and queries answer from the rollups
        with store.begin() as conn:  # a second pass has nothing left to do
            again = apply_retention(conn, NOW, trades_days=1, article_text_days=2)
        assert again.trades == 0 and again.article_texts == 0


def test_zero_days_keeps_everything(settings: Settings, store: Store, bus: EmbeddedLog) -> None:
    _feed(settings, bus)
    drain_engine(settings, store, bus)
    with store.begin() as conn:
        removed = apply_retention(
            conn, NOW + timedelta(days=400), trades_days=0, article_text_days=0
        )
    assert removed.trades == 0 and removed.article_texts == 0


def test_the_log_keeps_what_a_consumer_has_not_committed(tmp_path: Any) -> None:
    log = EmbeddedLog(tmp_path / "bus.db")
    p = log.producer()
    old = int((NOW - timedelta(days=10)).timestamp() * 1000)
    for i in range(10):
        p.produce("raw", f"{i}".encode(), key=b"k", timestamp_ms=old + i)
    p.produce("raw", b"new", key=b"k")
    p.flush()
    c = log.consumer("g")
    c.subscribe(["raw"])
    assert len(c.poll(1.0, 4)) == 4
    c.commit()  # the group has consumed offsets 0-3
    cutoff = int((NOW - timedelta(days=7)).timestamp() * 1000)
    assert log.trim(cutoff) == 4
    assert log.trim(cutoff, protect={TopicPartition("raw", 0): 2}) == 0
    c.commit({TopicPartition("raw", 0): 11})
    assert log.trim(cutoff, protect={TopicPartition("raw", 0): 6}) == 2  # offsets 4, 5
    assert log.trim(cutoff) == 4  # 6-9: old and consumed; "new" is recent
    # the newest message always stays, so offsets keep counting up after a full trim
    assert log.trim(int(NOW.timestamp() * 1000) + 60_000) == 0
    p.produce("raw", b"next", key=b"k")
    p.flush()
    rest = log.consumer("h")
    rest.subscribe(["raw"])
    got = rest.poll(1.0, 100)
    assert [(m.offset, m.value) for m in got] == [(10, b"new"), (11, b"next")]


def test_the_engine_trims_the_log_behind_what_it_stored(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    p = bus.producer()
    old = int((NOW - timedelta(days=30)).timestamp() * 1000)
    for i in range(5):
        tr = Trade(
            exchange=VENUE,
            symbol="BTC-USD",
            trade_id=f"o{i}",
            price="60000",
            size="1",
            time=NOW - timedelta(minutes=5),
        )
        p.produce(settings.topic_prices, encode(tr), key=b"x", timestamp_ms=old + i)
    p.flush()
    engine = drain_engine(settings, store, bus)
    engine.retain()  # as its hourly heartbeat does
    c = bus.consumer("check")
    c.subscribe([settings.topic_prices])
    assert [m.offset for m in c.poll(1.0, 100)] == [4]  # the newest stays
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(t.trades)).scalar_one() == 5


def test_a_trade_arriving_after_its_second_was_sealed_is_refused(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    """Retention deleted the raw trades of old seconds: a late trade for one of them would
    rewrite that second's candle from itself alone, so it becomes a dead letter instead."""
    _feed(settings, bus)
    drain_engine(settings, store, bus)
    with store.begin() as conn:
        apply_retention(conn, NOW, trades_days=1, article_text_days=0)
    old = NOW - timedelta(days=2)
    c = t.candles.c

    def candle() -> tuple[Any, ...] | None:
        with store.read() as conn:
            row = conn.execute(
                select(c.open, c.close, c.volume, c.trades).where(
                    c.venue == VENUE,
                    c.resolution_s == 86400,
                    c.start == int(old.timestamp()) // 86400 * 86400,
                )
            ).first()
        return None if row is None else tuple(row)

    before = candle()
    assert before is not None
    p = bus.producer()
    late = Trade(
        exchange=VENUE, symbol="BTC-USD", trade_id="late", price="1.00", size="5", time=old
    )
    fresh = Trade(
        exchange=VENUE, symbol="BTC-USD", trade_id="fresh", price="60000", size="1", time=NOW
    )
    for tr in (late, fresh):
        p.produce(settings.topic_prices, encode(tr), key=f"{VENUE}:BTC-USD".encode())
    p.flush()
    drain_engine(settings, store, bus)
    assert candle() == before  # the sealed day is unchanged
    with store.read() as conn:
        reasons = [r[0] for r in conn.execute(select(t.errors.c.reason))]
        ids = {r[0] for r in conn.execute(select(t.trades.c.trade_id))}
    assert any("trade late" in r and "sealed" in r for r in reasons)
    assert "fresh" in ids and "late" not in ids  # a recent trade goes through as usual

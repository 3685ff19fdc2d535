"""The recorded input both engines process in the parity tests: the replay bundle's real
news and 1-minute bars, real Coinbase trades, French headlines (hand-written feeds, declared
``fr`` as the registry does: not scored), and messages broken on purpose."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from btcpulse.bus.base import Producer
from btcpulse.collectors.news.feeds import parse_feed
from btcpulse.collectors.prices.coinbase import parse_frame
from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.config import Settings
from btcpulse.events import Bar, NewsItem, encode
from btcpulse.timeutil import to_epoch_us

Message = tuple[str, bytes, bytes | None, int]


def recorded_messages(settings: Settings, replay: Path, fixtures: Path) -> list[Message]:
    out: list[Message] = []
    for rec in load_bundle(replay).records:
        ev = rec.event
        ts = to_epoch_us(rec.known_at) // 1000
        if isinstance(ev, NewsItem):
            out.append((settings.topic_news, encode(ev), ev.id.encode(), ts))
        elif isinstance(ev, Bar):
            out.append((settings.topic_prices, encode(ev), f"{ev.venue}:{ev.symbol}".encode(), ts))
    frame = (fixtures / "coinbase_advanced_trade_ws_market_trades.json").read_text()
    trades, _ = parse_frame(json.dumps(json.loads(frame)))
    for tr in trades:
        out.append(
            (
                settings.topic_prices,
                encode(tr),
                f"{tr.exchange}:{tr.symbol}".encode(),
                to_epoch_us(tr.time) // 1000,
            )
        )
    for feed in sorted((fixtures / "fr").glob("*.xml")):
        fetched = datetime(2025, 12, 12, 22, 0, tzinfo=UTC)
        items, _ = parse_feed(feed.read_bytes(), source=feed.stem.split("_")[0], fetched_at=fetched)
        for item in items:
            item = item.model_copy(update={"lang": "fr"})
            ts = to_epoch_us(item.published_at) // 1000
            out.append((settings.topic_news, encode(item), item.id.encode(), ts))
    out.append((settings.topic_news, b"{not json at all", b"bad", 0))
    out.append((settings.topic_prices, b'{"type": "trade", "schema_version": 1}', b"bad", 0))
    return out


def produce_all(producer: Producer, messages: list[Message]) -> None:
    for topic, value, key, ts in messages:
        producer.produce(topic, value, key=key, timestamp_ms=ts or None)
    assert producer.flush() == 0

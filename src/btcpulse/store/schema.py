"""Tables (SQLAlchemy Core). Every table has a natural key so every write is an upsert.

Candle windows are keyed by ``start`` in epoch seconds (UTC) and ``resolution_s``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    true,
)

from btcpulse.store.types import UtcDateTime

metadata = MetaData()

news = Table(
    "news",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source", String(100), nullable=False),
    Column("url", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("published_at", UtcDateTime, nullable=False),
    Column("fetched_at", UtcDateTime, nullable=False),
    Column("lang", String(16), nullable=False),
    Column("replay", Boolean, nullable=False),
    Column("author", Text, nullable=False, server_default=""),
    Column("body", Text, nullable=False, server_default=""),
    Column("time_estimated", Boolean, nullable=False, server_default=false()),
    Column("relevant", Boolean, nullable=False, server_default=true()),
    Index("ix_news_published_at", "published_at"),
    Index("ix_news_replay_published", "replay", "published_at"),
)

enrichments = Table(
    "enrichments",
    metadata,
    Column("news_id", String(64), primary_key=True),
    Column("model_version", String(64), primary_key=True),
    Column("sentiment", Float, nullable=False),
    Column("sentiment_label", String(16), nullable=False),
    Column("enriched_at", UtcDateTime, nullable=False),
)

news_tags = Table(
    "news_tags",
    metadata,
    Column("news_id", String(64), primary_key=True),
    Column("topics", Text, nullable=False),  # JSON list of topic names
    Column("entities", Text, nullable=False),  # JSON list of {"name", "type"}
    Column("version", String(64), nullable=False),
)

news_stories = Table(
    "news_stories",
    metadata,
    Column("news_id", String(64), primary_key=True),
    Column("story_id", String(80), nullable=False),
    Index("ix_news_stories_story", "story_id"),
)

stories = Table(
    "stories",
    metadata,
    Column("story_id", String(80), primary_key=True),
    Column("title", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("source_count", Integer, nullable=False),
    Column("first_source", String(100), nullable=False),
    Column("first_published_at", UtcDateTime, nullable=False),
    Column("last_published_at", UtcDateTime, nullable=False),
    Column("replay", Boolean, nullable=False),
    Index("ix_stories_last", "replay", "last_published_at"),
)

bursts = Table(
    "bursts",
    metadata,
    Column("replay", Boolean, primary_key=True),
    Column("key", String(120), primary_key=True),  # a topic, or "term:<word>"
    Column("resolution_s", Integer, primary_key=True),
    Column("start", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("mean", Float, nullable=False),
    Column("std", Float, nullable=False),
    Column("z", Float, nullable=False),
    Column("version", String(64), nullable=False),  # the topic tagger that counted them
    Index("ix_bursts_window", "replay", "resolution_s", "start"),
)

impacts = Table(
    "impacts",
    metadata,
    Column("news_id", String(64), primary_key=True),
    Column("series", String(64), nullable=False),  # the venue whose prices were used
    Column("base_price", Float),
    Column("ret_60s", Float),
    Column("ret_300s", Float),
    Column("ret_3600s", Float),
)

index_values = Table(
    "index_values",
    metadata,
    Column("replay", Boolean, primary_key=True),
    Column("time", BigInteger, primary_key=True),  # epoch seconds (minute boundaries)
    Column("value", Float, nullable=False),
    Column("sentiment_c", Float, nullable=False),
    Column("volume_c", Float, nullable=False),
    Column("momentum_c", Float, nullable=False),
    Column("volatility_c", Float, nullable=False),
    Column("n_news", Integer, nullable=False),
    Column("drivers", Text, nullable=False),  # JSON: headlines that moved it most
    Column("model_version", String(64), nullable=False),  # the sentiment model it was made with
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(120), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("rule", Text, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("params", Text, nullable=False),  # JSON: the message's figures (localised display)
    Column("replay", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_alerts_time", "time"),
)

trades = Table(
    "trades",
    metadata,
    Column("exchange", String(64), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("trade_id", String(128), primary_key=True),
    Column("price", Float, nullable=False),
    Column("size", Float, nullable=False),
    Column("side", String(8), nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Column("replay", Boolean, nullable=False),
    Index("ix_trades_venue_time", "exchange", "symbol", "time"),
)

bars = Table(
    "bars",
    metadata,
    Column("venue", String(64), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("interval_s", Integer, primary_key=True),
    Column("open_s", BigInteger, primary_key=True),
    Column("open", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("close", Float, nullable=False),
    Column("volume", Float, nullable=False),
    Column("replay", Boolean, nullable=False),
)

candles = Table(
    "candles",
    metadata,
    Column("venue", String(64), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("resolution_s", Integer, primary_key=True),
    Column("start", BigInteger, primary_key=True),
    Column("open", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("close", Float, nullable=False),
    Column("volume", Float, nullable=False),
    Column("quote_volume", Float, nullable=False),
    Column("trades", Integer, nullable=False),
    Column("replay", Boolean, nullable=False),
)

composite_flags = Table(
    "composite_flags",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("resolution_s", Integer, primary_key=True),
    Column("start", BigInteger, primary_key=True),
    Column("venues", Integer, nullable=False),  # venues in the composite window
    Column("flags", Text, nullable=False),  # JSON list of "<venue>:outlier|missing|stale"
)

errors = Table(
    "errors",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("time", UtcDateTime, nullable=False),
    Column("stage", String(64), nullable=False),
    Column("source", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Index("ix_errors_time", "time"),
)

source_health = Table(
    "source_health",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_success", UtcDateTime),
    Column("last_error", UtcDateTime),
    Column("last_error_reason", Text),
    Column("items_total", BigInteger, nullable=False, default=0),
    Column("detail", Text),
    Column("next_poll_at", UtcDateTime),
    Column("metrics", Text),  # JSON object: items_per_hour, messages_per_s, reconnects, ...
    Column("updated_at", UtcDateTime, nullable=False),
)

engine_offsets = Table(
    "engine_offsets",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

updates = Table(
    "updates",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("data", Text, nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Index("ix_updates_time", "time"),
)

collector_state = Table(
    "collector_state",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("state", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

logs = Table(
    "logs",
    metadata,
    Column("id", String(32), primary_key=True),  # random: several processes write at once
    Column("time", UtcDateTime, nullable=False),
    Column("level", String(16), nullable=False),
    Column("component", String(100), nullable=False),  # the command: engine, collect news, ...
    Column("logger", String(100), nullable=False),
    Column("event", Text, nullable=False),
    Column("fields", Text, nullable=False),  # JSON object: the record's other key/values
    Index("ix_logs_time", "time"),
)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(200), primary_key=True),  # e.g. source:cryptopanic:auth_token
    Column("ciphertext", Text, nullable=False),  # Fernet token of {"name", "value"}
    Column("key_id", String(16), nullable=False),  # which key sealed it (hash prefix)
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

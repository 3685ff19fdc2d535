"""One settings object for the whole product, built once (``Settings()``) and passed down.

Values come from environment variables prefixed ``BTCPULSE_`` and an optional ``.env`` file.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

PriceVenue = Literal["coinbase", "binance", "kraken", "bitstamp"]
PRICE_VENUES: tuple[PriceVenue, ...] = ("coinbase", "binance", "kraken", "bitstamp")


class Settings(BaseSettings):
    """Every knob of btcpulse. Immutable once built."""

    model_config = SettingsConfigDict(
        env_prefix="BTCPULSE_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,  # an error never echoes a password or token it was given
    )

    mode: Literal["embedded", "distributed"] = Field(
        default="embedded",
        description="embedded: SQLite log + micro-batch engine; distributed: Kafka + Spark + PG.",
    )
    data_dir: Path = Field(default=Path("var"), description="Where embedded data lives.")
    store_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the store; default: SQLite in data_dir."
    )
    bus_path: Path | None = Field(
        default=None, description="Embedded log file; default: data_dir/bus.db."
    )

    # topics
    topic_news: str = "news.raw"
    topic_prices: str = "prices.ticks"
    topic_updates: str = "analytics.updates"
    topic_deadletters: str = "deadletters"

    # distributed mode
    kafka_bootstrap: str = Field(default="localhost:9092", description="Kafka bootstrap servers.")
    kafka_partitions: int = Field(default=4, ge=1, description="Partitions of created topics.")
    kafka_session_timeout_ms: int = Field(default=10000, ge=1000)
    spark_master: str = Field(
        default="local[2]", description="Spark master URL (spark://host:7077 or local[N])."
    )
    spark_checkpoint_dir: Path | None = Field(
        default=None, description="Spark checkpoint folder; default: data_dir/spark-checkpoint."
    )
    spark_trigger_s: float = Field(default=0.0, ge=0.0, description="Micro-batch trigger.")
    spark_max_records_per_batch: int = Field(
        default=0, ge=0, description="Cap on messages per micro-batch (0: all available)."
    )

    # web
    host: str = "127.0.0.1"
    port: int = 8000
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token of the write endpoints; none: read-only."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) allowed to read the API cross-origin "
        "(GET/HEAD, no credentials); empty: same origin only.",
    )
    api_rate_per_s: float = Field(
        default=50.0,
        ge=0,
        description="Requests (and WebSocket connects) per second per client IP, refilling a "
        "token bucket; 0: no limit. Probes, metrics and static files are exempt.",
    )
    api_rate_burst: int = Field(default=200, ge=1, description="Size of that token bucket.")

    # engine
    engine_group: str = "engine"
    engine_max_batch: int = 5000
    engine_poll_timeout_s: float = 0.25
    updates_keep_s: int = 24 * 3600

    # retention (0 keeps forever); candles at every resolution, news metadata and analytics
    # are always kept, so charts and queries over old ranges answer from the rollups
    retention_log_days: float = Field(
        default=7, ge=0, description="Embedded log: days of messages kept once consumed."
    )
    retention_trades_days: float = Field(
        default=7, ge=0, description="Raw trades kept (candles keep their history)."
    )
    retention_article_text_days: float = Field(
        default=30, ge=0, description="Full article text kept (title, summary, tags stay)."
    )
    retention_logs_days: float = Field(
        default=30, ge=0, description="Warnings and errors kept in the store's logs table."
    )
    alert_rules: list[str] = Field(
        default_factory=lambda: ["index>75", "index<25", "burst>=3", "move>=2%/60m"],
        description="Alert rules: 'index>N', 'index<N', 'burst>=Z', 'move>=P%/Mm'.",
    )
    sentiment_model: Literal["default", "vader"] = Field(
        default="default", description="Headline sentiment: the bundled crypto model or VADER."
    )

    # collectors
    news_feeds: list[str] = Field(
        default_factory=list,
        description="Extra RSS/Atom feeds 'NAME=URL', added to (or overriding) the registry.",
    )
    news_sources_file: Path | None = Field(
        default=None, description="User YAML merged over the packaged news source registry."
    )
    news_poll_interval_s: float = 60.0
    news_max_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    news_max_redirects: int = Field(default=5, ge=0)
    http_timeout_s: float = 10.0
    user_agent: str = "btcpulse/0.1 (+https://github.com/btcpulse/btcpulse)"
    coinbase_ws_url: str = "wss://advanced-trade-ws.coinbase.com"
    coinbase_products: list[str] = Field(default_factory=lambda: ["BTC-USD", "BTC-EUR"])
    coinbase_rest_url: str = "https://api.coinbase.com"
    price_venues: list[PriceVenue] = Field(
        default_factory=lambda: list(PRICE_VENUES),
        description="Exchanges streamed by `collect prices` (and `up`).",
    )
    binance_ws_url: str = "wss://stream.binance.com:9443/ws"
    binance_rest_url: str = "https://api.binance.com"
    binance_products: list[str] = Field(default_factory=lambda: ["BTC-USDT", "BTC-EUR"])
    kraken_ws_url: str = "wss://ws.kraken.com/v2"
    kraken_rest_url: str = "https://api.kraken.com"
    kraken_products: list[str] = Field(default_factory=lambda: ["BTC-USD", "BTC-EUR"])
    bitstamp_ws_url: str = "wss://ws.bitstamp.net"
    bitstamp_rest_url: str = "https://www.bitstamp.net"
    bitstamp_products: list[str] = Field(default_factory=lambda: ["BTC-USD", "BTC-EUR"])
    live_sources: bool = Field(default=True, description="Start the live collectors in `up`.")

    # history backfill (venue candles over REST; `btcpulse backfill`, once on first `up`)
    backfill_venue: Literal["coinbase", "binance"] = Field(
        default="coinbase", description="Venue whose REST candles `backfill` loads."
    )
    backfill_url: str | None = Field(
        default=None,
        description="REST base URL; default: the venue's public API "
        "(https://api.exchange.coinbase.com, https://api.binance.com).",
    )
    backfill_symbol: str | None = Field(
        default=None, description="Normalised symbol; default: BTC-USD (Binance: BTC-USDT)."
    )
    backfill_days: int = Field(default=30, ge=0, description="Days of 1-minute bars.")
    backfill_daily_years: int = Field(default=5, ge=0, description="Years of daily bars.")
    backfill_on_start: bool = Field(
        default=True, description="`up` runs the backfill once, until one has completed."
    )
    backfill_min_interval_s: float = Field(
        default=0.25, ge=0.0, description="Least time between two REST requests."
    )
    backfill_retries: int = Field(
        default=5, ge=0, description="Retries of a failed REST request (timeouts, 5xx, 429)."
    )

    # replay
    replay_path: Path = Path("data/replay")
    replay_speed: float = 10.0
    replay_mode: Literal["always", "when-offline", "off"] = "when-offline"

    log_level: str = "INFO"
    log_json: bool = False

    # encryption in transit and at rest (docs/security.md; checked by security.transport)
    store_sslmode: (
        Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None
    ) = Field(default=None, description="libpq sslmode of PostgreSQL; none: libpq's default.")
    store_sslrootcert: Path | None = Field(
        default=None, description="CA certificate(s) the PostgreSQL server's must chain to."
    )
    store_sslcert: Path | None = Field(default=None, description="Client certificate (PG).")
    store_sslkey: Path | None = Field(default=None, description="Client private key (PG).")
    store_sslpassword: SecretStr | None = Field(
        default=None, description="Passphrase of store_sslkey."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Kafka security.protocol of every client."
    )
    kafka_ssl_ca_location: Path | None = Field(
        default=None, description="CA certificate(s) of the brokers ('probe': the system's)."
    )
    kafka_ssl_certificate_location: Path | None = None
    kafka_ssl_key_location: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_verify_hostname: bool = Field(
        default=True, description="Check the broker's certificate names its host."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    secret_keys: SecretStr | None = Field(
        default=None,
        description="Fernet keys of the secret store, comma-separated, the first current.",
    )
    secret_keys_file: Path | None = Field(
        default=None, description="A file holding secret_keys (one per line or comma-separated)."
    )

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{(self.data_dir / 'store.db').as_posix()}"

    @property
    def store_url_for_display(self) -> str:
        """The store URL with its password masked: what messages and logs may show."""
        from sqlalchemy.engine import make_url

        return make_url(self.resolved_store_url).render_as_string(hide_password=True)

    @property
    def resolved_bus_path(self) -> Path:
        return self.bus_path or self.data_dir / "bus.db"

    @field_validator("alert_rules")
    @classmethod
    def _rules_parse(cls, value: list[str]) -> list[str]:
        from btcpulse.analytics.alert_rules import parse_rules

        parse_rules(value)  # a clear error at start-up rather than in the engine
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        from btcpulse.web.security import check_origins

        return check_origins(value)

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _transport_security(self) -> Settings:
        from btcpulse.security.transport import check_settings

        check_settings(self)  # a half-set TLS/SASL setup fails here, never falls back
        return self

    @model_validator(mode="after")
    def _store_password(self) -> Settings:
        if self.mode == "distributed" and self.store_url:
            check_store_password(self.store_url, client_cert=self.store_sslcert is not None)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Also read secret files: ``btcpulse_<field>`` (e.g. ``btcpulse_store_url``) in
        BTCPULSE_SECRETS_DIR, by default /run/secrets (Docker and Kubernetes secrets), when
        that folder exists; an empty BTCPULSE_SECRETS_DIR turns this off. Environment
        variables and the .env file win over the files."""
        folder = os.environ.get("BTCPULSE_SECRETS_DIR", "/run/secrets")
        if folder and Path(folder).is_dir():
            file_secret_settings = SecretsSettingsSource(settings_cls, secrets_dir=folder)
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    def feeds(self) -> list[tuple[str, str]]:
        """The configured feeds as (name, url) pairs."""
        out = []
        for spec in self.news_feeds:
            name, sep, url = spec.partition("=")
            if not sep:
                raise ValueError(f"news feed {spec!r} must be NAME=URL")
            out.append((name.strip(), url.strip()))
        return out


# Passwords of examples, quick starts and images' docs: never accepted for a distributed store.
DEFAULT_PASSWORDS = frozenset(
    "postgres password btcpulse changeme change-me change_me admin secret root pass test "
    "example 123456 12345678 qwerty".split()
)


def _is_local(host: str) -> bool:
    """No host (a Unix socket), localhost or a loopback address."""
    if not host or host == "localhost" or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_store_password(url: str, *, client_cert: bool = False) -> None:
    """Refuse a PostgreSQL store URL whose password is missing or a well-known default (or the
    user name). A URL without a password stays allowed for a server on this machine (Unix
    socket or loopback: peer or trust authentication, as in the tests) and with a TLS client
    certificate (``store_sslcert``: certificate authentication). Never echoes it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # not a URL this check understands: the store reports it when it connects
    if not parsed.drivername.startswith("postgresql"):
        return
    if not parsed.password:
        if client_cert or _is_local(parsed.host or ""):
            return
        raise ValueError(
            "BTCPULSE_STORE_URL has no PostgreSQL password: in distributed mode give one, "
            "long and random, as postgresql+psycopg://USER:PASSWORD@HOST:5432/DB (or in the "
            "secret file btcpulse_store_url, see BTCPULSE_SECRETS_DIR)"
        )
    value = str(parsed.password).strip().casefold()
    if value in DEFAULT_PASSWORDS or value == (parsed.username or "").casefold():
        raise ValueError(
            "BTCPULSE_STORE_URL uses a well-known default PostgreSQL password (or the user "
            "name): in distributed mode set a long random one, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )

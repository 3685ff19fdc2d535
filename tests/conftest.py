"""Shared fixtures: isolated settings, store and bus per test; helpers to wait on conditions."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from btcpulse.analytics.sentiment import make_scorer
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.config import Settings
from btcpulse.engines.embedded import EmbeddedEngine
from btcpulse.store.db import Store
from btcpulse.testing.services import Broker, Postgres, start_postgres, start_tansu

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).with_name("fixtures")
REPLAY = ROOT / "data" / "replay"
SHARED = ROOT.parent / "shared" / "data"

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the service may not be up yet
            last_exc = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last_exc!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_engine(settings: Settings, store: Store, bus: EmbeddedLog) -> EmbeddedEngine:
    """A started embedded engine, built as ``btcpulse process`` builds it."""
    engine = EmbeddedEngine(
        settings,
        store,
        bus.consumer(settings.engine_group),
        bus.producer(),
        make_scorer(settings.sentiment_model),
    )
    engine.start()
    return engine


_LOCAL = ("127.", "::1", "localhost", "/")  # loopback addresses and Unix sockets


@pytest.fixture(autouse=True)
def _only_local_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests reach only local servers: the fixtures name real public hosts (coindesk.com,
    reddit.com, ...) as data, and a connection to any of them fails the test loudly."""
    real = socket.socket.connect

    def connect(sock: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        if not str(host).startswith(_LOCAL):
            raise AssertionError(f"a test tried to reach a non-local host: {address!r}")
        real(sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)


def _service_or_skip(what: str, exc: Exception) -> None:
    if os.environ.get("BTCPULSE_REQUIRE_SERVICES") == "1":
        raise RuntimeError(f"{what} is required (BTCPULSE_REQUIRE_SERVICES=1): {exc}") from exc
    pytest.skip(f"{what} unavailable here: {exc}")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real Kafka-protocol broker (tansu) on a free port, for the whole session."""
    try:
        broker = start_tansu(tmp_path_factory.mktemp("tansu") / "tansu.log")
    except (RuntimeError, TimeoutError, OSError) as exc:
        _service_or_skip("the Kafka-protocol broker (tansu)", exc)
        raise
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster (initdb) on a free port, for the whole session."""
    root = Path(tempfile.mkdtemp(prefix="btcpulse-pg-"))
    try:
        pg = start_postgres(root)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        _service_or_skip("PostgreSQL", exc)
        raise
    yield pg
    pg.stop()
    shutil.rmtree(root, ignore_errors=True)


def drain_engine(settings: Settings, store: Store, bus: EmbeddedLog) -> EmbeddedEngine:
    """Run a real embedded engine until the bus is drained."""
    engine = make_engine(settings, store, bus)
    while engine.run_once():
        pass
    return engine


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        port=free_port(),
        live_sources=False,
        replay_path=REPLAY,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store(settings.resolved_store_url)
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture
def bus(settings: Settings) -> EmbeddedLog:
    return EmbeddedLog(settings.resolved_bus_path)


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a ``btcpulse`` subprocess using these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTCPULSE_")}
    env.update(
        BTCPULSE_DATA_DIR=str(settings.data_dir),
        BTCPULSE_PORT=str(settings.port),
        BTCPULSE_REPLAY_PATH=str(settings.replay_path),
        BTCPULSE_LIVE_SOURCES="false",
    )
    env.update(extra)
    return env

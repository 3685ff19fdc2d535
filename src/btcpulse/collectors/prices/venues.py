"""The supported exchanges by name, and a collector for each from the settings."""

from __future__ import annotations

from btcpulse.bus.base import Producer
from btcpulse.config import Settings
from btcpulse.store.db import Store

from .binance import Binance
from .bitstamp import Bitstamp
from .coinbase import Coinbase
from .kraken import Kraken
from .stream import StreamCollector, Venue

VENUES: dict[str, type[Venue]] = {
    "coinbase": Coinbase,
    "binance": Binance,
    "kraken": Kraken,
    "bitstamp": Bitstamp,
}


def make_venue(name: str) -> Venue:
    try:
        return VENUES[name]()
    except KeyError:
        raise ValueError(f"unknown venue {name!r}; one of {', '.join(VENUES)}") from None


def collector(
    name: str,
    settings: Settings,
    producer: Producer,
    store: Store,
    *,
    ws_url: str | None = None,
    rest_url: str | None = None,
    symbols: list[str] | None = None,
) -> StreamCollector:
    """The collector of venue ``name``; URLs and symbols default to the settings'."""
    return StreamCollector.from_settings(
        make_venue(name),
        settings,
        producer,
        store,
        ws_url=ws_url,
        rest_url=rest_url,
        symbols=symbols,
    )

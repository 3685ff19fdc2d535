"""The venues' REST candle formats (client side): one request per page, rows → ``Bar`` events.

- **Coinbase Exchange** ``GET /products/{product}/candles?granularity=G&start=ISO&end=ISO``:
  at most 300 candles per request (a wider range is *rejected*), rows
  ``[time, low, high, open, close, volume]`` newest first, prices as JSON numbers; no row for
  an interval without trades. A page asks for 299 intervals, so that it holds at most 300
  candles whether ``end`` is inclusive or not; rows outside the page are dropped.
- **Binance** ``GET /api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=MS&endTime=MS&limit=N``
  (``N`` ≤ 1000; ``startTime``/``endTime`` inclusive), rows ``[openTime, open, high, low,
  close, volume, closeTime, quoteVolume, trades, takerBase, takerQuote, ignore]`` oldest
  first, prices as strings.

Numbers stay the venue's decimal text (``wire.loads`` keeps JSON numbers as their source).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from btcpulse.collectors.prices.binance import native as binance_native
from btcpulse.collectors.prices.wire import decimal_str, from_epoch_us
from btcpulse.events import Bar
from btcpulse.timeutil import to_epoch_us


class CandleFormat:
    """One venue's candle endpoint. Subclasses override what differs."""

    venue: ClassVar[str] = ""
    default_url: ClassVar[str] = ""
    default_symbol: ClassVar[str] = "BTC-USD"
    max_page: ClassVar[int] = 300
    """Most candles one request may ask for."""
    intervals: ClassVar[dict[int, str]] = {}
    """Supported intervals (seconds) → the venue's name for them."""

    def request(
        self, symbol: str, interval_s: int, start_s: int, end_s: int, limit: int
    ) -> tuple[str, dict[str, str]]:
        """Path and query asking for the candles opened in ``[start_s, end_s)``."""
        raise NotImplementedError

    def page_span(self, limit: int) -> int:
        """How many intervals one page covers."""
        return limit

    def parse(self, body: Any, symbol: str, interval_s: int) -> list[Bar]:
        """The rows of an answer as bars, oldest first (raises ``ValueError`` on junk)."""
        raise NotImplementedError

    def check(self, interval_s: int) -> None:
        if interval_s not in self.intervals:
            raise ValueError(
                f"{self.venue} has no {interval_s}s candles "
                f"(one of {', '.join(map(str, self.intervals))})"
            )


def _iso(s: int) -> str:
    return from_epoch_us(s * 1_000_000).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rows(body: Any) -> list[list[Any]]:
    if not isinstance(body, list) or not all(isinstance(r, list) for r in body):
        raise ValueError(f"expected a list of candle rows, got {str(body)[:200]!r}")
    return body


def _bar(venue: str, symbol: str, interval_s: int, opened: datetime, ohlcv: list[Any]) -> Bar:
    o, h, low, c, v = (decimal_str(x) for x in ohlcv)
    return Bar(
        venue=venue,
        symbol=symbol,
        interval_s=interval_s,
        open_time=opened,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=v,
    )


class CoinbaseExchange(CandleFormat):
    venue: ClassVar[str] = "coinbase"
    default_url: ClassVar[str] = "https://api.exchange.coinbase.com"
    default_symbol: ClassVar[str] = "BTC-USD"
    max_page: ClassVar[int] = 300
    intervals: ClassVar[dict[int, str]] = {
        60: "60",
        300: "300",
        900: "900",
        3600: "3600",
        21600: "21600",
        86400: "86400",
    }

    def page_span(self, limit: int) -> int:
        return max(1, min(limit, self.max_page) - 1)

    def request(
        self, symbol: str, interval_s: int, start_s: int, end_s: int, limit: int
    ) -> tuple[str, dict[str, str]]:
        return f"/products/{symbol}/candles", {
            "granularity": self.intervals[interval_s],
            "start": _iso(start_s),
            "end": _iso(end_s),
        }

    def parse(self, body: Any, symbol: str, interval_s: int) -> list[Bar]:
        out = []
        for row in _rows(body):
            t, low, high, o, c, v = row[:6]
            opened = from_epoch_us(int(t) * 1_000_000)
            out.append(_bar(self.venue, symbol, interval_s, opened, [o, high, low, c, v]))
        out.sort(key=lambda b: b.open_time)
        return out


class BinanceKlines(CandleFormat):
    venue: ClassVar[str] = "binance"
    default_url: ClassVar[str] = "https://api.binance.com"
    default_symbol: ClassVar[str] = "BTC-USDT"
    max_page: ClassVar[int] = 1000
    intervals: ClassVar[dict[int, str]] = {
        60: "1m",
        300: "5m",
        900: "15m",
        3600: "1h",
        14400: "4h",
        86400: "1d",
    }

    def page_span(self, limit: int) -> int:
        return max(1, min(limit, self.max_page))

    def request(
        self, symbol: str, interval_s: int, start_s: int, end_s: int, limit: int
    ) -> tuple[str, dict[str, str]]:
        return "/api/v3/klines", {
            "symbol": binance_native(symbol),
            "interval": self.intervals[interval_s],
            "startTime": str(start_s * 1000),
            "endTime": str(end_s * 1000 - 1),
            "limit": str(min(limit, self.max_page)),
        }

    def parse(self, body: Any, symbol: str, interval_s: int) -> list[Bar]:
        out = []
        for row in _rows(body):
            opened = from_epoch_us(int(row[0]) * 1000)
            out.append(_bar(self.venue, symbol, interval_s, opened, row[1:6]))
        out.sort(key=lambda b: b.open_time)
        return out


FORMATS: dict[str, type[CandleFormat]] = {"coinbase": CoinbaseExchange, "binance": BinanceKlines}


def make_format(venue: str) -> CandleFormat:
    try:
        return FORMATS[venue]()
    except KeyError:
        raise ValueError(
            f"no candle history for venue {venue!r}; one of {', '.join(FORMATS)}"
        ) from None


def epoch_s(t: datetime) -> int:
    return to_epoch_us(t) // 1_000_000

"""A local server speaking the venues' REST candle formats, fed with real recorded bars.

- Coinbase Exchange ``GET /products/{product}/candles?granularity=60|86400&start&end``: rows
  ``[time, low, high, open, close, volume]`` newest first, prices as JSON numbers, ``start``
  and ``end`` inclusive; a range of more than 300 candles (or ``page_limit``) is rejected
  with 400, as Coinbase does.
- Binance ``GET /api/v3/klines?symbol&interval=1m|1d&startTime&endTime&limit``: rows
  ``[openTime, open, high, low, close, volume, closeTime, ...]`` oldest first, prices as
  strings, at most ``limit`` (≤ 1000, and ≤ ``page_limit``) rows.

Timestamps: the recorded 1-minute bars are shifted by whole minutes so that the last one closes
at ``end`` (default: the current minute, so that a dashboard shows them as recent history;
tests pass an explicit ``end``, a UTC midnight keeping the recorded days whole). Daily bars are
the aggregates of the shifted minutes of each UTC day. Values are served unchanged.

Faults (:class:`CandleFaults`): fail every candle request after *k* pages (HTTP 500, to test
resuming), answer 429 with ``Retry-After`` once, cap the rows per page. Every candle served is
recorded in ``served`` (per interval), every request in ``requests``. Test use only.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from btcpulse.timeutil import to_epoch_us, utcnow

DAY = 86400
COINBASE_GRANULARITIES = {60, 300, 900, 3600, 21600, 86400}
BINANCE_INTERVALS = {"1m": 60, "1d": DAY}


@dataclass(frozen=True)
class Candle:
    open_s: int
    open: str
    high: str
    low: str
    close: str
    volume: str


def load_minutes(path: Path) -> list[Candle]:
    """A CSV of 1-minute bars (``open_time,open,high,low,close,volume``), oldest first."""
    out = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            opened = datetime.fromisoformat(row["open_time"])
            out.append(
                Candle(
                    to_epoch_us(opened) // 1_000_000,
                    row["open"],
                    row["high"],
                    row["low"],
                    row["close"],
                    row["volume"],
                )
            )
    return sorted(out, key=lambda c: c.open_s)


def daily(minutes: Iterable[Candle]) -> list[Candle]:
    """Daily bars (UTC days) aggregated from 1-minute bars."""
    days: dict[int, list[Candle]] = {}
    for c in minutes:
        days.setdefault(c.open_s - c.open_s % DAY, []).append(c)
    out = []
    for day, cs in sorted(days.items()):
        cs.sort(key=lambda c: c.open_s)
        out.append(
            Candle(
                day,
                cs[0].open,
                str(max(Decimal(c.high) for c in cs)),
                str(min(Decimal(c.low) for c in cs)),
                cs[-1].close,
                str(sum((Decimal(c.volume) for c in cs), Decimal(0))),
            )
        )
    return out


@dataclass
class CandleFaults:
    fail_after: int | None = None
    """After this many candle pages served, answer HTTP 500 to every candle request."""
    rate_limit_once: float | None = None
    """Answer the next candle request with 429 and this ``Retry-After`` (seconds), once."""
    page_limit: int | None = None
    """Most candles per page (Coinbase: a wider range is rejected; Binance: rows capped)."""


@dataclass
class FakeCandles:
    venue: str
    minutes: list[Candle]
    end: datetime | None = None
    symbol: str = "BTC-USD"
    faults: CandleFaults = field(default_factory=CandleFaults)
    host: str = "127.0.0.1"
    port: int = 0
    bars: dict[int, list[Candle]] = field(default_factory=dict)
    served: dict[int, list[Candle]] = field(default_factory=dict)
    requests: list[tuple[float, str, int]] = field(default_factory=list)
    """(monotonic time, path with query, status) of every request."""
    pages: int = 0
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        end_s = to_epoch_us(self.end or utcnow()) // 1_000_000
        end_s -= end_s % 60
        shift = end_s - (self.minutes[-1].open_s + 60)
        shifted = [
            Candle(c.open_s + shift, c.open, c.high, c.low, c.close, c.volume) for c in self.minutes
        ]
        self.bars = {60: shifted, DAY: daily(shifted)}
        self.served = {60: [], DAY: []}

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeCandles:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, headers = fake.answer(self.path)
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeCandles:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ answers

    def answer(self, path: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            status, body, headers = self._answer(path)
            self.requests.append((time.monotonic(), path, status))
            return status, body, headers

    def _answer(self, path: str) -> tuple[int, Any, dict[str, str]]:
        url = urlsplit(path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        f = self.faults
        if f.rate_limit_once is not None:
            wait, f.rate_limit_once = f.rate_limit_once, None
            return 429, {"message": "Too many requests"}, {"Retry-After": f"{wait:g}"}
        if f.fail_after is not None and self.pages >= f.fail_after:
            return 500, {"message": "Internal server error"}, {}
        try:
            if self.venue == "coinbase" and url.path == f"/products/{self.symbol}/candles":
                return self._coinbase(q)
            if self.venue == "binance" and url.path == "/api/v3/klines":
                return self._binance(q)
        except (KeyError, ValueError) as exc:
            return 400, {"message": f"{type(exc).__name__}: {exc}"}, {}
        return 404, {"message": "NotFound"}, {}

    def _serve(self, interval: int, lo: int, hi: int, limit: int) -> list[Candle]:
        """Bars opened in ``[lo, hi]`` (both inclusive), oldest first, at most ``limit``."""
        rows = [c for c in self.bars[interval] if lo <= c.open_s <= hi][:limit]
        self.served[interval].extend(rows)
        self.pages += 1
        return rows

    def _coinbase(self, q: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        g = int(q["granularity"])
        if g not in COINBASE_GRANULARITIES or g not in self.bars:
            return 400, {"message": "Unsupported granularity"}, {}
        lo, hi = _time(q["start"]), _time(q["end"])
        limit = min(300, self.faults.page_limit or 300)
        if hi < lo or (hi - lo) // g + 1 > limit:
            return 400, {"message": f"Count of aggregations requested exceeds {limit}"}, {}
        rows = self._serve(g, lo, hi, limit)
        text = ",".join(
            f"[{c.open_s},{c.low},{c.high},{c.open},{c.close},{c.volume}]" for c in reversed(rows)
        )
        return 200, f"[{text}]".encode(), {}

    def _binance(self, q: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if q["symbol"] != self.symbol.replace("-", ""):
            return 400, {"code": -1121, "msg": "Invalid symbol."}, {}
        iv = BINANCE_INTERVALS.get(q["interval"])
        if iv is None:
            return 400, {"code": -1120, "msg": "Invalid interval."}, {}
        limit = min(int(q.get("limit", "500")), 1000, self.faults.page_limit or 1000)
        lo = int(q.get("startTime", "0")) // 1000
        hi = int(q["endTime"]) // 1000 if "endTime" in q else 2**62
        rows = self._serve(iv, lo, hi, limit)
        return (
            200,
            [
                [c.open_s * 1000, c.open, c.high, c.low, c.close, c.volume, *_tail(c, iv)]
                for c in rows
            ],
            {},
        )


def _tail(c: Candle, iv: int) -> list[Any]:
    """closeTime, quote volume, trades, taker buy base/quote, ignore (unused by the client)."""
    return [(c.open_s + iv) * 1000 - 1, "0", 0, "0", "0", "0"]


def _time(text: str) -> int:
    """Coinbase accepts ISO 8601 or epoch seconds."""
    if text.isdigit():
        return int(text)
    return to_epoch_us(datetime.fromisoformat(text.replace("Z", "+00:00"))) // 1_000_000

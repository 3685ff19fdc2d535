"""Price collectors: WebSocket frames parsed per second per venue, on one core (frames per
CPU-second of the parsing thread, so other load on the machine is not counted against it).

Two frame sets per venue: BTC trade frames in the venue's wire format (rendered by the fake
exchange's protocol code from a synthetic tape; one trade per frame), and the real recorded
frames committed in ``tests/fixtures/market`` (all channels: book, ticker, heartbeats and
trades; Coinbase has no recording, only its documented examples). Parsing = bytes/text →
``Trade`` events or dead letters, i.e. what a collector does per frame before producing.
"""

from __future__ import annotations

import time
from pathlib import Path

from common import ROOT, Figure, Plan

from btcpulse.collectors.prices.venues import VENUES, make_venue
from btcpulse.testing.fake_exchange import recorded_frames, synthetic_tape
from btcpulse.testing.fake_venues import PROTOCOLS

MARKET = ROOT / "tests" / "fixtures" / "market"
RECORDINGS = {
    "binance": "binance_ws_2021-10-12_sample.jsonl",
    "bitstamp": "bitstamp_ws_2022-01-05_sample.jsonl",
    "kraken": "kraken_ws_v1_2021-04-17_sample.jsonl",
}
SYMBOL = {"binance": "BTC-USDT"}


def _rate(venue: str, frames: list[str], runs: int) -> tuple[float, int]:
    parser = make_venue(venue)
    parse = parser.parse
    trades = sum(len(parse(f).trades) for f in frames)  # warm-up, and the trade count
    best = float("inf")
    for _ in range(runs):
        t0 = time.process_time()  # CPU time: a per-core rate even on a busy machine
        for f in frames:
            parse(f)
        best = min(best, time.process_time() - t0)
    return len(frames) / best, trades


def _trade_frames(venue: str, n: int) -> list[str]:
    proto = PROTOCOLS[venue]
    state: dict[str, object] = {"seq": 0, "path": "/ws"}
    symbol = SYMBOL.get(venue, "BTC-USD")
    return [proto.trades([t], state, symbol, snapshot=False) for t in synthetic_tape(n)]


def bench_prices(plan: Plan, _tmp: Path) -> list[Figure]:
    n = 20_000 if plan.synthetic_trades < 50_000 else 100_000
    runs = max(plan.runs, 3)
    figures = []
    for venue in VENUES:
        rate, trades = _rate(venue, _trade_frames(venue, n), runs)
        assert trades == n, f"{venue}: {trades} trades from {n} frames"
        figures.append(
            Figure(
                f"prices: {venue} trade frames parsed",
                round(rate),
                "frames/s",
                f"{n:,} BTC trade frames in {venue}'s wire format (one trade each), "
                f"`{venue}.parse` → Trade; per CPU-second of one thread; best of {runs}; "
                "goal ≥ 100,000/s/core",
            )
        )
    for venue, name in RECORDINGS.items():
        frames = recorded_frames(MARKET / name) * 200
        rate, _ = _rate(venue, frames, runs)
        figures.append(
            Figure(
                f"prices: {venue} recorded frames parsed",
                round(rate),
                "frames/s",
                f"tests/fixtures/market/{name} (real frames, all channels) x200 = "
                f"{len(frames):,} frames; per CPU-second of one thread; best of {runs}",
            )
        )
    return figures


if __name__ == "__main__":  # `.venv/bin/python bench/prices.py`: this part alone, as table rows
    for f in bench_prices(Plan.make(quick=False), Path(".")):
        print(f"| {f.name} | {f.cell()} | {f.unit} | {f.how} |")

"""History on day one: ``Backfill`` against a local server speaking Coinbase Exchange candles
and Binance klines, fed with 3 days of real Binance.US 1-minute bars, through the real
embedded bus and engine into the store."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import FIXTURES, child_env, drain_engine, free_port
from sqlalchemy import delete, func, select

from btcpulse.analytics.alerts import PriceMove, evaluate
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.cli_backfill import first_start_args
from btcpulse.collectors.history.backfill import Backfill, Summary, cursor_key
from btcpulse.collectors.history.client import HistoryError, Politeness
from btcpulse.config import Settings
from btcpulse.events import Bar, parse_event
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state
from btcpulse.supervisor import ONESHOT_ATTEMPTS, Supervisor
from btcpulse.testing.fake_candles import Candle, CandleFaults, FakeCandles, load_minutes

MINUTES = load_minutes(FIXTURES / "market" / "binanceus_BTCUSD_1m_2023-03-10_12.csv")
NOW = datetime(2026, 11, 20, tzinfo=UTC)  # a UTC midnight: the 3 recorded days stay whole
SYMBOL = {"coinbase": "BTC-USD", "binance": "BTC-USDT"}
FAST = Politeness(min_interval_s=0.0, retries=1, backoff_base_s=0.01, backoff_cap_s=0.02)
OHLCV = ("open", "high", "low", "close", "volume")


def _fake(venue: str, **kw: Any) -> FakeCandles:
    return FakeCandles(venue, MINUTES, end=kw.pop("end", NOW), symbol=SYMBOL[venue], **kw)


def _backfill(
    s: Settings, store: Store, bus: EmbeddedLog, fake: FakeCandles, **kw: Any
) -> Backfill:
    now = kw.pop("now", NOW)
    return Backfill(
        s,
        bus.producer(),
        store,
        venue=fake.venue,
        base_url=kw.pop("url", fake.url),
        politeness=kw.pop("politeness", FAST),
        clock=lambda: now,
        **kw,
    )


def _run(bf: Backfill, days: int = 3, daily_years: int = 0) -> Summary:
    return asyncio.run(bf.run(days, daily_years))


def _candles(store: Store, venue: str, res: int | None = None) -> dict[tuple[int, int], tuple]:
    c = t.candles.c
    q = select(c.resolution_s, c.start, c.open, c.high, c.low, c.close, c.volume, c.replay).where(
        c.venue == venue
    )
    if res is not None:
        q = q.where(c.resolution_s == res)
    with store.read() as conn:
        return {(r[0], r[1]): tuple(r[2:]) for r in conn.execute(q)}


def _served(fake: FakeCandles, interval: int) -> dict[int, Candle]:
    return {c.open_s: c for c in fake.served[interval]}  # a page edge may be served twice


def _bus_bars(s: Settings, bus: EmbeddedLog) -> list[Bar]:
    consumer = bus.consumer(f"count-{time.monotonic_ns()}")
    consumer.subscribe([s.topic_prices])
    out: list[Bar] = []
    while msgs := consumer.poll(0.2, 10_000):
        out.extend(ev for m in msgs if isinstance(ev := parse_event(m.value), Bar))
    consumer.close()
    return out


def _world(base: Settings, tmp: Path, name: str) -> tuple[Settings, Store, EmbeddedLog]:
    s = base.model_copy(update={"data_dir": tmp / name})
    store = Store(s.resolved_store_url)
    store.migrate()
    return s, store, EmbeddedLog(s.resolved_bus_path)


@pytest.mark.parametrize("venue", ["coinbase", "binance"])
def test_three_days_are_stored_exactly_as_served(
    venue: str, settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    with _fake(venue) as fake:
        summary = _run(_backfill(settings, store, bus, fake))
    served = _served(fake, 60)
    assert len(served) == len(MINUTES) == summary.bars == 4320
    assert sorted(served) == [c.open_s for c in fake.bars[60]]  # every recorded minute
    drain_engine(settings, store, bus)
    stored = _candles(store, venue, 60)
    assert len(stored) == 4320
    for open_s, bar in served.items():
        got = stored[(60, open_s)]
        assert got[:5] == tuple(float(getattr(bar, k)) for k in OHLCV), open_s
        assert got[5] is False  # real venue data, never replay
    # the rollups cover the same 3 days, whole, and agree with the minutes
    days = _candles(store, venue, 86400)
    assert sorted(s for _, s in days) == [NOW_S - 3 * 86400, NOW_S - 2 * 86400, NOW_S - 86400]
    for (_, day), row in days.items():
        mins = [served[m] for m in range(day, day + 86400, 60)]
        assert row[0] == float(mins[0].open) and row[3] == float(mins[-1].close)
        assert row[1] == max(float(m.high) for m in mins)
        assert row[2] == min(float(m.low) for m in mins)
    # History raises no live alert (more than a day old), though it holds 2 %-in-an-hour moves
    minutes = pl.DataFrame(
        {
            "start": sorted(served),
            "close": [float(served[m].close) for m in sorted(served)],
            "resolution_s": [60] * len(served),
        }
    )
    assert evaluate([PriceMove(2, 60)], None, None, minutes).height > 0
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(t.alerts)).scalar_one() == 0


NOW_S = int(NOW.timestamp())


def test_an_interrupted_backfill_resumes_without_gap_or_duplicate(
    settings: Settings, store: Store, bus: EmbeddedLog, tmp_path: Path
) -> None:
    faults = CandleFaults(fail_after=10, page_limit=100)
    with _fake("coinbase", faults=faults) as fake:
        bf = _backfill(settings, store, bus, fake, page=100)
        with pytest.raises(HistoryError, match="HTTP 500"):
            _run(bf)
        first = _bus_bars(settings, bus)
        assert len(first) == 10 * 99  # 10 flushed pages of 99 minutes, nothing of the 11th
        with store.read() as conn:
            cur = get_state(conn, cursor_key("coinbase", "BTC-USD", 60))
        assert cur is not None and cur["next"] == NOW_S - 3 * 86400 + 10 * 99 * 60
        faults.fail_after = None
        summary = _run(bf)
        assert summary.bars == 4320 - 10 * 99 and summary.jobs[0].skipped == 10 * 99
    produced = _bus_bars(settings, bus)
    opens = [to_s(b) for b in produced]
    assert len(opens) == len(set(opens)) == 4320  # no duplicate on the bus
    assert sorted(opens) == [c.open_s for c in fake.bars[60]]  # and no gap
    drain_engine(settings, store, bus)

    # the same as an uninterrupted run, at every resolution
    s2, store2, bus2 = _world(settings, tmp_path, "clean")
    with _fake("coinbase") as fake2:
        _run(_backfill(s2, store2, bus2, fake2))
    drain_engine(s2, store2, bus2)
    assert _candles(store, "coinbase") == _candles(store2, "coinbase")
    store2.dispose()


def test_asking_for_more_days_later_fetches_only_the_earlier_ones(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    with _fake("binance") as fake:
        assert _run(_backfill(settings, store, bus, fake), days=1).bars == 1440
        more = _run(_backfill(settings, store, bus, fake), days=3)
    assert more.bars == 2880 and more.jobs[0].skipped == 1440
    opens = [to_s(b) for b in _bus_bars(settings, bus)]
    assert len(opens) == len(set(opens)) and sorted(opens) == [c.open_s for c in fake.bars[60]]
    with store.read() as conn:
        cur = get_state(conn, cursor_key("binance", "BTC-USDT", 60))
    assert cur == {"from": NOW_S - 3 * 86400, "next": NOW_S}


def to_s(b: Bar) -> int:
    return int(b.open_time.timestamp())


def test_a_second_run_adds_nothing(settings: Settings, store: Store, bus: EmbeddedLog) -> None:
    with _fake("binance") as fake:
        _run(_backfill(settings, store, bus, fake), daily_years=1)
        engine = drain_engine(settings, store, bus)
        before, on_bus = _candles(store, "binance"), len(_bus_bars(settings, bus))
        again = _run(_backfill(settings, store, bus, fake), daily_years=1)
        assert again.bars == 0 and again.requests == 0
        later = _run(_backfill(settings, store, bus, fake, now=NOW + timedelta(minutes=5)), 3, 1)
        assert later.bars == 0  # the venue has nothing newer: asked, nothing produced
        assert len(_bus_bars(settings, bus)) == on_bus
        while engine.run_once():
            pass
        assert _candles(store, "binance") == before

        # a crash between a flush and the cursor's save re-sends bars: the store absorbs them
        with store.begin() as conn:
            conn.execute(delete(t.collector_state))
        resent = _run(_backfill(settings, store, bus, fake), daily_years=1)
        assert resent.bars == 4320 + 3
    while engine.run_once():
        pass
    assert _candles(store, "binance") == before


def test_429_is_honoured(settings: Settings, store: Store, bus: EmbeddedLog) -> None:
    with _fake("coinbase", faults=CandleFaults(rate_limit_once=1.0)) as fake:
        summary = _run(_backfill(settings, store, bus, fake), days=1)
    assert summary.rate_limited == 1 and summary.bars == 1440
    (t429, _, code), (t_next, _, code_next) = fake.requests[:2]
    assert (code, code_next) == (429, 200)
    assert t_next - t429 >= 0.95  # Retry-After: 1
    # a ban longer than the client will wait ends the backfill at once, clearly
    with _fake("binance", faults=CandleFaults(rate_limit_once=600)) as fake:
        t0 = time.monotonic()
        with pytest.raises(HistoryError, match="asks to wait 600s"):
            _run(_backfill(settings, store, bus, fake))
        assert time.monotonic() - t0 < 5


def test_daily_bars_land_at_one_day_only(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    noon = NOW + timedelta(hours=12)  # today (an open day) has minutes on the server
    with _fake("coinbase", end=noon) as fake:
        summary = _run(_backfill(settings, store, bus, fake, now=noon), days=0, daily_years=5)
    served = {k: v for k, v in _served(fake, 86400).items() if k < NOW_S}
    assert summary.bars == len(served) == 3
    assert NOW_S in {c.open_s for c in fake.bars[86400]}  # the venue has today's (open) bar
    drain_engine(settings, store, bus)
    stored = _candles(store, "coinbase")
    assert (86400, NOW_S) not in stored  # today is not final: not stored
    assert {res for res, _ in stored} == {86400}  # no finer level polluted
    for open_s, bar in served.items():
        assert stored[(86400, open_s)][:5] == tuple(float(getattr(bar, k)) for k in OHLCV)


def test_an_unreachable_venue_is_a_clear_error_recorded(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with _fake("coinbase") as fake:
        bf = _backfill(settings, store, bus, fake, url=url)
        with pytest.raises(HistoryError, match=r"cannot reach http://127\.0\.0\.1"):
            _run(bf)
    with store.read() as conn:
        h = conn.execute(
            select(t.source_health).where(t.source_health.c.name == "backfill:coinbase")
        ).one()
        errors = conn.execute(select(t.errors).where(t.errors.c.stage == "backfill")).all()
    assert h.status == "down" and "cannot reach" in h.last_error_reason and h.kind == "history"
    assert len(errors) == 1 and "cannot reach" in errors[0].reason
    assert first_start_args(settings, store) == ["backfill", "--no-progress"]  # tried again

    res = subprocess.run(
        [sys.executable, "-m", "btcpulse", "backfill", "--url", url, "--days", "1"],
        env=child_env(settings, BTCPULSE_BACKFILL_RETRIES="0"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 1
    assert f"backfill from {url} failed: cannot reach" in res.stderr


def test_the_cli_backfills_and_up_runs_it_once(
    settings: Settings, store: Store, bus: EmbeddedLog
) -> None:
    live = settings.model_copy(update={"live_sources": True})
    assert first_start_args(live, store) == ["backfill", "--no-progress"]
    with _fake("coinbase", end=None) as fake:
        res = subprocess.run(
            [sys.executable, "-m", "btcpulse", "backfill", "--url", fake.url, "--days", "1"],
            env=child_env(settings, BTCPULSE_BACKFILL_MIN_INTERVAL_S="0"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert res.returncode == 0, res.stderr
    assert "backfill coinbase BTC-USD: 3 1d bars, " in res.stdout, res.stdout
    assert first_start_args(live, store) is None  # completed: `up` does not run it again
    other = live.model_copy(update={"backfill_venue": "binance"})
    assert first_start_args(other, store) == ["backfill", "--no-progress"]  # per venue
    off = other.model_copy(update={"backfill_on_start": False})
    assert first_start_args(off, store) is None


def test_a_oneshot_child_is_not_restarted(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    sup = Supervisor(store, {"ok": ["--help"], "bad": ["no-such-command"]}, oneshot={"ok", "bad"})
    monkeypatch.setattr("signal.signal", lambda *_a: None)

    def stop_when_done() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(c.finished for c in sup.children):
            time.sleep(0.1)
        sup.stop.set()

    threading.Thread(target=stop_when_done, daemon=True).start()
    sup.run()
    ok, bad = sup.children
    assert ok.finished and ok.restarts == 0
    assert bad.finished and bad.restarts == ONESHOT_ATTEMPTS - 1
    with store.read() as conn:
        rows = {r.name: r for r in conn.execute(select(t.source_health))}
    assert rows["process:ok"].status == "done"
    assert rows["process:bad"].status == "down" and "given up" in rows["process:bad"].detail

"""The always-online loop shared by every exchange WebSocket collector.

A :class:`Venue` knows one exchange's protocol (subscribe messages, application heartbeat,
frame parsing, REST backfill); :class:`StreamCollector` runs it: connect, subscribe, read with
an idle timeout, reconnect with jittered backoff, detect gaps and fill them from REST, drop
duplicates by trade id, publish to the bus and report health.

Gaps are detected three ways: a reconnect (always a possible gap), a jump in a venue's
consecutive trade ids (``dense_ids``: Binance aggTrade, Kraken v2) and a jump in a venue's
per-connection message sequence number (Coinbase ``sequence_num``). After a reconnect the
missed trades are fetched at once (from the last trade seen up to now, so a quiet market is
covered too); inside a session the range between the last trade and the one after the jump.
Each trade id is published once per process (a bounded set of recent ids per symbol); the
engine's upsert by ``(exchange, symbol, trade_id)`` covers a restarted process. The last trade
published per symbol is saved in the store with every health report (after a flush): a
restarted process (a crash, a deploy) first fills from there, so the trades that happened
while it was down are fetched like those of a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import httpx
import structlog
import websockets
from sqlalchemy.exc import SQLAlchemyError

from btcpulse.bus.base import Producer
from btcpulse.collectors.backoff import Backoff
from btcpulse.collectors.health import HealthReporter
from btcpulse.config import Settings
from btcpulse.events import DeadLetter, Trade, encode, parse_event
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state, put_state
from btcpulse.timeutil import to_epoch_us, utcnow

from .wire import MAX_BACKFILL, BackfillError, Frame, between, num

log = structlog.get_logger("prices")

RECENT_IDS = 50_000
"""Trade ids remembered per symbol to drop duplicates (snapshots, overlapping backfills)."""

# ---------------------------------------------------------------- the venue protocol


class Venue:
    """One exchange's protocol. Subclasses override what differs."""

    name: ClassVar[str] = ""
    dense_ids: ClassVar[bool] = False
    """Trade ids are consecutive per symbol: a jump is a gap."""
    heartbeat_s: ClassVar[float | None] = None
    """How often the client sends :meth:`heartbeat` (venues without server heartbeats)."""
    reconcile: ClassVar[bool] = False
    """Ids are not consecutive, so a frame lost inside a session cannot be seen: after a
    reconnect, re-read the venue's history since the first trade of this process (as far as
    the venue keeps it) and keep whatever was never published."""

    def parse(self, raw: str | bytes) -> Frame:
        raise NotImplementedError

    def subscribe_messages(self, symbols: list[str]) -> list[str]:
        raise NotImplementedError

    def heartbeat(self, n: int) -> str | None:
        return None

    async def backfill(
        self, http: httpx.AsyncClient, symbol: str, after: Trade, before: Trade | None
    ) -> list[Trade]:
        """Trades of ``symbol`` after ``after`` (and before ``before``, or up to now)."""
        raise NotImplementedError


# ---------------------------------------------------------------- the collector


@dataclass
class Stats:
    connected: bool = False
    last_message_at: datetime | None = None
    messages: int = 0
    reconnects: int = 0
    gaps_detected: int = 0
    gaps_filled: int = 0
    backfilled_trades: int = 0
    dead_letters: int = 0
    trades: int = 0
    _mark: tuple[float, int] = field(default=(0.0, 0), repr=False)

    def metrics(self) -> dict[str, Any]:
        now, (then, before) = time.monotonic(), self._mark
        rate = (self.messages - before) / (now - then) if then and now > then else 0.0
        self._mark = (now, self.messages)
        return {
            "connected": self.connected,
            "last_message_at": self.last_message_at.isoformat() if self.last_message_at else None,
            "messages_per_s": round(rate, 2),
            "reconnects": self.reconnects,
            "gaps_detected": self.gaps_detected,
            "gaps_filled": self.gaps_filled,
            "backfilled_trades": self.backfilled_trades,
            "dead_letters": self.dead_letters,
            "trades": self.trades,
        }


class StreamCollector:
    """Runs one venue's WebSocket feed into the bus, always online (see module doc)."""

    def __init__(
        self,
        venue: Venue,
        producer: Producer,
        store: Store,
        *,
        ws_url: str,
        rest_url: str,
        symbols: list[str],
        topic_prices: str = "prices.ticks",
        topic_deadletters: str = "deadletters",
        user_agent: str = "btcpulse",
        open_timeout_s: float = 10.0,
        idle_timeout_s: float = 30.0,
        health_every_s: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.venue = venue
        self.producer = producer
        self.ws_url, self.rest_url, self.symbols = ws_url, rest_url, symbols
        self.topic_prices, self.topic_deadletters = topic_prices, topic_deadletters
        self.user_agent = user_agent
        self.open_timeout_s, self.idle_timeout_s = open_timeout_s, idle_timeout_s
        self.health_every_s = health_every_s
        self.store = store
        self.state_key = f"prices:{venue.name}"
        self.health = HealthReporter(store, venue.name, "prices")
        self.backoff = backoff or Backoff(base_s=1.0, cap_s=60.0)
        self.stats = Stats()
        self.last: dict[str, Trade] = {}
        self.first: dict[str, Trade] = {}
        self._recent: dict[str, tuple[set[str], deque[str]]] = {}
        self._sessions = 0
        self._pending: set[str] = set()
        """Symbols with a suspected gap, filled up to their next trade."""
        self._saved: set[str] = set()
        """Symbols whose last trade is in the store: a new one is saved at once."""
        self._load_last()

    @classmethod
    def from_settings(
        cls,
        venue: Venue,
        settings: Settings,
        producer: Producer,
        store: Store,
        *,
        ws_url: str | None = None,
        rest_url: str | None = None,
        symbols: list[str] | None = None,
    ) -> StreamCollector:
        name = venue.name
        return cls(
            venue,
            producer,
            store,
            ws_url=ws_url or str(getattr(settings, f"{name}_ws_url")),
            rest_url=rest_url or str(getattr(settings, f"{name}_rest_url")),
            symbols=symbols or list(getattr(settings, f"{name}_products")),
            topic_prices=settings.topic_prices,
            topic_deadletters=settings.topic_deadletters,
            user_agent=settings.user_agent,
            open_timeout_s=settings.http_timeout_s,
        )

    # -------------------------------------------------------------- restarts

    def _load_last(self) -> None:
        """The last trade a previous process published per symbol: filled from at start."""
        try:
            with self.store.read() as conn:
                state = get_state(conn, self.state_key) or {}
        except SQLAlchemyError as exc:
            log.warning("prices.state_unread", venue=self.venue.name, error=str(exc))
            return
        for symbol, raw in (state.get("last") or {}).items():
            tr = parse_event(raw.encode(), source=self.state_key)
            if isinstance(tr, Trade) and symbol in self.symbols:
                self.last[symbol] = self.first[symbol] = tr
                self._saved.add(symbol)

    def _save_last(self) -> None:
        """Save the last trade per symbol once everything produced is on the bus."""
        if not self.last:
            return
        try:
            if self.producer.flush() != 0:
                return  # not all delivered yet: the previous save stays
        except Exception as exc:  # the bus is unreachable: the previous save stays
            log.warning("prices.state_unsaved", venue=self.venue.name, error=str(exc))
            return
        state = {"last": {sym: encode(tr).decode() for sym, tr in self.last.items()}}
        try:
            with self.store.begin() as conn:
                put_state(conn, self.state_key, state)
            self._saved.update(self.last)
        except SQLAlchemyError as exc:
            log.warning("prices.state_unsaved", venue=self.venue.name, error=str(exc))

    # -------------------------------------------------------------- publishing

    def _is_new(self, tr: Trade) -> bool:
        ids, order = self._recent.setdefault(tr.symbol, (set(), deque()))
        if tr.trade_id in ids:
            return False
        ids.add(tr.trade_id)
        order.append(tr.trade_id)
        if len(order) > RECENT_IDS:
            ids.discard(order.popleft())
        return True

    def _produce(self, tr: Trade) -> None:
        self.producer.produce(
            self.topic_prices,
            encode(tr),
            key=f"{tr.exchange}:{tr.symbol}".encode(),
            timestamp_ms=to_epoch_us(tr.time) // 1000,
        )
        self.stats.trades += 1
        last = self.last.get(tr.symbol)
        if last is None or num(tr.trade_id) > num(last.trade_id):
            self.last[tr.symbol] = tr
        self.first.setdefault(tr.symbol, tr)

    def _letters(self, letters: list[DeadLetter]) -> None:
        for dl in letters:
            self.producer.produce(self.topic_deadletters, encode(dl), key=dl.error_id.encode())
        self.stats.dead_letters += len(letters)

    # -------------------------------------------------------------- gaps

    async def _fill(self, http: httpx.AsyncClient, symbol: str, before: Trade | None) -> None:
        reconcile = self.venue.reconcile and before is None
        after = self.first[symbol] if reconcile else self.last[symbol]
        self.stats.gaps_detected += 1
        try:
            got = await self.venue.backfill(http, symbol, after, before)
        except (BackfillError, KeyError, TypeError, ValueError) as exc:
            reason = f"backfill failed: {type(exc).__name__}: {exc}"[:2000]
            log.warning("prices.backfill_failed", venue=self.venue.name, reason=reason)
            self._letters(
                [
                    DeadLetter(
                        stage="backfill",
                        source=self.venue.name,
                        reason=reason,
                        payload=json.dumps({"symbol": symbol, "after": after.trade_id}),
                    )
                ]
            )
            return
        fresh = [t for t in between(got, after, before) if self._is_new(t)]
        for t in fresh:
            self._produce(t)
        self.stats.backfilled_trades += len(fresh)
        complete = len(got) < MAX_BACKFILL
        if self.venue.dense_ids and before is not None:
            complete = complete and len(fresh) >= num(before.trade_id) - num(after.trade_id) - 1
        if complete:
            self.stats.gaps_filled += 1
        log.info("prices.backfilled", venue=self.venue.name, symbol=symbol, trades=len(fresh))

    async def _accept(self, http: httpx.AsyncClient, trades: list[Trade]) -> None:
        for tr in sorted(trades, key=lambda t: (t.symbol, num(t.trade_id), t.time)):
            if not self._is_new(tr):
                continue
            last = self.last.get(tr.symbol)
            if last is not None and (
                tr.symbol in self._pending
                or (self.venue.dense_ids and num(tr.trade_id) > num(last.trade_id) + 1)
            ):
                await self._fill(http, tr.symbol, tr)
            self._pending.discard(tr.symbol)
            self._produce(tr)

    # -------------------------------------------------------------- the session

    def _report_up(self, detail: str = "connected") -> None:
        self._save_last()
        self.health.up(detail=detail, metrics=self.stats.metrics())

    async def _heartbeats(self, ws: websockets.ClientConnection) -> None:
        """Client heartbeats; a dead connection ends this quietly (the reader notices it)."""
        assert self.venue.heartbeat_s is not None
        n = 0
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await asyncio.sleep(self.venue.heartbeat_s)
                n += 1
                msg = self.venue.heartbeat(n)
                if msg is not None:
                    await ws.send(msg)

    async def _session(self, http: httpx.AsyncClient) -> None:
        async with websockets.connect(
            self.ws_url,
            open_timeout=self.open_timeout_s,
            ping_interval=20,
            ping_timeout=20,
            max_size=2**22,
            user_agent_header=self.user_agent,
        ) as ws:
            for msg in self.venue.subscribe_messages(self.symbols):
                await ws.send(msg)
            self.stats.connected = True
            self.backoff.reset()
            if self._sessions:
                self.stats.reconnects += 1
            self._sessions += 1
            self._report_up()
            beat = asyncio.create_task(self._heartbeats(ws)) if self.venue.heartbeat_s else None
            try:
                self._pending.clear()
                for symbol in list(self.last):  # a reconnect: fetch what was missed, to now
                    await self._fill(http, symbol, None)
                self.producer.flush()
                self._save_last()
                await self._read(ws, http)
            finally:
                if beat is not None:
                    beat.cancel()

    async def _read(self, ws: websockets.ClientConnection, http: httpx.AsyncClient) -> None:
        prev_seq: int | None = None
        last_report = time.monotonic()
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=self.idle_timeout_s)
            except TimeoutError as exc:
                raise TimeoutError(f"no message for {self.idle_timeout_s:g} s") from exc
            self.stats.messages += 1
            self.stats.last_message_at = utcnow()
            frame = self.venue.parse(raw)
            if frame.seq is not None:
                if prev_seq is not None and frame.seq != prev_seq + 1:
                    # A lost frame: fill each symbol up to its next trade.
                    self._pending.update(self.last)
                prev_seq = frame.seq
            if frame.letters:
                self._letters(frame.letters)
            if frame.trades:
                await self._accept(http, frame.trades)
            if frame.trades or frame.letters:
                self.producer.flush()
            if self.last.keys() - self._saved:  # a symbol's first trade: from here on
                self._save_last()
            if frame.control == "reconnect":
                raise ConnectionError("the venue asked for a reconnect")
            if time.monotonic() - last_report >= self.health_every_s:
                self._report_up()
                last_report = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        stopping = asyncio.create_task(stop.wait())
        async with httpx.AsyncClient(
            base_url=self.rest_url,
            timeout=self.open_timeout_s,
            headers={"User-Agent": self.user_agent},
        ) as http:
            try:
                while not stop.is_set():
                    session = asyncio.create_task(self._session(http))
                    await asyncio.wait({session, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    self.stats.connected = False
                    if stop.is_set():
                        session.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await session
                        return
                    exc = session.exception()
                    delay = self.backoff.next_delay()
                    reason = f"{type(exc).__name__}: {exc}"[:500] if exc else "session ended"
                    log.warning(
                        "prices.disconnected",
                        venue=self.venue.name,
                        reason=reason,
                        retry_s=round(delay, 2),
                    )
                    self.health.down(
                        reason, detail=f"reconnect in {delay:.1f}s", metrics=self.stats.metrics()
                    )
                    await asyncio.wait({stopping}, timeout=delay)
            finally:
                stopping.cancel()
                with contextlib.suppress(Exception):
                    self.producer.flush()
                self._save_last()

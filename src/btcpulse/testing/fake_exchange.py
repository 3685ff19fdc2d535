"""A local fake exchange: each venue's WebSocket protocol and REST trade history on one port.

It answers the subscribe handshake as the venue does, sends the venue's heartbeats (or answers
the client's), then streams either a deterministic synthetic BTC tape (consecutive or sparse
trade ids, known in advance: a ground truth for tests) or recorded real frames (``frames``,
e.g. from cryptofeed recordings). Plain HTTP GETs on the same port are the venue's REST trade
history of everything that has "happened" so far, so a client that lost trades can backfill.

Faults (:class:`Faults`): cut connection *k* after *n* trade frames (trades meanwhile happen
unseen), lag every frame, skip tape entries (a lost frame; Coinbase's ``sequence_num`` still
moves on), send garbage after given entries. Used by the tests and by
``btcpulse fake-exchange`` for demos. Never a stand-in for the real thing in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from btcpulse.timeutil import utcnow

from .fake_venues import PROTOCOLS, Protocol, TapeTrade

__all__ = ["FakeExchange", "Faults", "TapeTrade", "recorded_frames", "synthetic_tape"]


def synthetic_tape(
    n: int,
    *,
    start: datetime | None = None,
    step_ms: int = 100,
    first_id: int = 1_000_000,
    id_step: int = 1,
    price: float = 65_000.0,
    seed: int = 7,
) -> list[TapeTrade]:
    """``n`` BTC trades, a seeded random walk, ``step_ms`` apart (ms-aligned times)."""
    rng = random.Random(seed)
    t0 = start or utcnow().replace(microsecond=0) - timedelta(milliseconds=n * step_ms + 60_000)
    out = []
    for i in range(n):
        price = max(1.0, price * (1 + rng.gauss(0, 2e-4)))
        out.append(
            TapeTrade(
                trade_id=first_id + i * id_step,
                price=f"{price:.2f}",
                size=f"{rng.uniform(0.0001, 0.5):.8f}",
                side=rng.choice(("buy", "sell")),
                time=t0 + timedelta(milliseconds=i * step_ms),
            )
        )
    return out


def recorded_frames(path: Path) -> list[str]:
    """The received frames of a cryptofeed ``.jsonl`` recording (``t == "recv"``), as sent."""
    frames = []
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            if rec.get("t") == "recv":
                frames.append(str(rec["data"]))
    return frames


@dataclass
class Faults:
    cut_after: dict[int, int] = field(default_factory=dict)
    """Connection number (0 = first) → cut it (TCP abort) after this many trade frames."""
    missed_on_cut: int = 0
    """Trades that happen while the client is away after a cut (REST only)."""
    skip: set[int] = field(default_factory=set)
    """Tape indexes never sent live (REST still has them)."""
    garbage: dict[int, str] = field(default_factory=dict)
    """Tape (or recorded frame) index → a frame sent right after it."""
    lag_s: float = 0.0
    """Extra delay before every frame."""


@dataclass
class FakeExchange:
    venue: str
    symbol: str = "BTC-USD"
    tape: list[TapeTrade] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    interval_s: float = 0.002
    """Pause between frames."""
    snapshot: int = 5
    """Recent trades sent on subscribe by venues that do (Coinbase, Kraken)."""
    heartbeat_s: float = 1.0
    host: str = "127.0.0.1"
    port: int = 0
    connections: int = 0
    cursor: int = 0
    """How far the market has got: tape[:cursor] has happened (and is on REST)."""
    received: list[Any] = field(default_factory=list)
    """Every client message, parsed, in order (subscribes, heartbeats, pings)."""
    rest_requests: list[str] = field(default_factory=list)
    _server: Server | None = field(default=None, repr=False)

    @property
    def proto(self) -> Protocol:
        return PROTOCOLS[self.venue]

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.proto.ws_path}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def done(self) -> bool:
        return self.cursor >= len(self.tape) and not self.frames

    async def start(self) -> FakeExchange:
        self._server = await serve(
            self._handle, self.host, self.port, process_request=self._rest, ping_interval=None
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeExchange:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # -------------------------------------------------------------- REST

    def _rest(self, conn: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        self.rest_requests.append(request.path)
        url = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        happened = [t for i, t in enumerate(self.tape) if i < self.cursor]
        payload: Any
        try:
            body = self.proto.rest(url.path, query, happened, self.symbol, utcnow())
            status, payload = (200, body) if body is not None else (404, {"error": url.path})
        except (KeyError, ValueError) as exc:
            status, payload = 400, {"error": f"{type(exc).__name__}: {exc}"}
        text = json.dumps(payload)
        response = conn.respond(status, text)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    # -------------------------------------------------------------- WebSocket

    async def _handle(self, ws: ServerConnection) -> None:
        number = self.connections
        self.connections += 1
        state: dict[str, Any] = {"seq": 0, "path": ws.request.path if ws.request else "/"}
        for msg in self.proto.on_connect(state):
            await ws.send(msg)
        subscribed = asyncio.Event()
        reader = asyncio.create_task(self._read(ws, state, subscribed))
        beat = asyncio.create_task(self._beats(ws, state, subscribed))
        try:
            await asyncio.wait_for(subscribed.wait(), 10.0)
            await self._stream(ws, state, number)
            await ws.wait_closed()
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            reader.cancel()
            beat.cancel()

    async def _read(
        self, ws: ServerConnection, state: dict[str, Any], subscribed: asyncio.Event
    ) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                self.received.append(msg)
                replies, is_subscribe = self.proto.answer(msg, state, self.symbol)
                for reply in replies:
                    await ws.send(reply)
                if is_subscribe:
                    subscribed.set()

    async def _beats(
        self, ws: ServerConnection, state: dict[str, Any], subscribed: asyncio.Event
    ) -> None:
        await subscribed.wait()
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(self.heartbeat_s)
                beat = self.proto.heartbeat(state, self.symbol)
                if beat is not None:
                    await ws.send(beat)

    async def _stream(self, ws: ServerConnection, state: dict[str, Any], number: int) -> None:
        f = self.faults
        if self.frames:  # replay of recorded frames
            for i, frame in enumerate(self.frames):
                await asyncio.sleep(self.interval_s + f.lag_s)
                await ws.send(frame)
                if i in f.garbage:
                    await ws.send(f.garbage[i])
            return
        if self.snapshot and self.cursor and self.proto.has_snapshot:
            recent = self.tape[max(0, self.cursor - self.snapshot) : self.cursor]
            await ws.send(self.proto.trades(recent, state, self.symbol, snapshot=True))
        sent = 0
        while self.cursor < len(self.tape):
            i = self.cursor
            self.cursor += 1
            if i in f.skip:
                state["seq"] += 1  # the frame was lost on the way
                continue
            await asyncio.sleep(self.interval_s + f.lag_s)
            await ws.send(self.proto.trades([self.tape[i]], state, self.symbol, snapshot=False))
            sent += 1
            if i in f.garbage:
                await ws.send(f.garbage[i])
            if f.cut_after.get(number) == sent:
                self.cursor = min(len(self.tape), self.cursor + f.missed_on_cut)
                ws.transport.abort()
                return

"""Live push: the broadcaster reads the updates topic and fans updates out to WebSockets.

The store's ``updates`` table is the truth (it assigns ``seq``); the topic is the fast path.
Any gap in ``seq`` (an update published late, or lost between the engine's commit and its
publish) is filled from the store, so every client sees every update once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog
from fastapi import WebSocket, WebSocketDisconnect

from btcpulse.bus.base import Message
from btcpulse.bus.factory import open_bus
from btcpulse.config import Settings
from btcpulse.events import AnalyticsUpdate, parse_event
from btcpulse.store.db import Store
from btcpulse.store.queries import last_seq, updates_since

log = structlog.get_logger("live")

CLIENT_QUEUE = 10_000
STORE_CHECK_S = 2.0


@dataclass(eq=False)
class Client:
    ws: WebSocket
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    overflowed: bool = False


class Hub:
    """The connected browsers. A client too slow to drain its queue is disconnected; it
    reconnects and catches up through ``/api/v1/updates``."""

    def __init__(self) -> None:
        self.clients: set[Client] = set()
        self.sent = 0
        self.received = 0  # updates handed to the hub (to push)

    def publish(self, message: str) -> None:
        self.received += 1
        for c in list(self.clients):
            try:
                c.queue.put_nowait(message)
            except asyncio.QueueFull:
                c.overflowed = True
                self.clients.discard(c)

    async def serve(self, ws: WebSocket, hello: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Register first, then say hello: every update after the hello's seq is queued.

        Returns when the client goes away (its close frame is read at once, so shutdown never
        waits for a send to notice) or falls too far behind."""
        client = Client(ws)
        self.clients.add(client)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._read_until_closed, ws, tg.cancel_scope)
                await self._send(client, hello)
                tg.cancel_scope.cancel()
        finally:
            self.clients.discard(client)
        if client.overflowed:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await ws.close(code=1013, reason="too slow; reconnect and catch up")

    async def _send(self, client: Client, hello: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        await client.ws.send_text(json.dumps(await hello()))
        while not client.overflowed:
            try:
                msg = await asyncio.wait_for(client.queue.get(), timeout=1.0)
            except TimeoutError:
                continue
            await client.ws.send_text(msg)
            self.sent += 1

    @staticmethod
    async def _read_until_closed(ws: WebSocket, scope: anyio.CancelScope) -> None:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                scope.cancel()
                return


def _wire(update: dict[str, Any]) -> str:
    return json.dumps(update, separators=(",", ":"))


class Broadcaster:
    def __init__(self, settings: Settings, store: Store, hub: Hub) -> None:
        self.s = settings
        self.store = store
        self.hub = hub
        self.last_seq = 0

    def _from_store(self, since: int) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            return updates_since(conn, since, 10_000)

    def _push(self, updates: list[dict[str, Any]]) -> None:
        for u in updates:
            if u["seq"] <= self.last_seq:
                continue
            self.hub.publish(_wire(u))
            self.last_seq = u["seq"]

    async def _catch_up(self, upto: int | None = None) -> None:
        while upto is None or self.last_seq < upto:
            batch = await asyncio.to_thread(self._from_store, self.last_seq)
            if not batch:
                return
            self._push([u for u in batch if upto is None or u["seq"] <= upto])
            if upto is not None and batch[-1]["seq"] >= upto:
                return

    def _pump(
        self,
        loop: asyncio.AbstractEventLoop,
        inbox: asyncio.Queue[list[Message]],
        stop: threading.Event,
    ) -> None:
        """Tail the updates topic in a thread that owns its consumer (and closes it itself:
        closing a SQLite connection under a running poll would crash the process)."""
        consumer = open_bus(self.s).consumer(f"web-{os.getpid()}-{uuid.uuid4().hex[:6]}", "latest")
        try:
            consumer.subscribe([self.s.topic_updates])
            while not stop.is_set():
                msgs = consumer.poll(0.5, 1000)
                if msgs:
                    loop.call_soon_threadsafe(inbox.put_nowait, msgs)
        except RuntimeError:  # the event loop closed under us: shutting down
            pass
        finally:
            consumer.close()

    async def run(self) -> None:
        with self.store.read() as conn:
            self.last_seq = last_seq(conn)
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[list[Message]] = asyncio.Queue()
        stop = threading.Event()
        pump = threading.Thread(
            target=self._pump, args=(loop, inbox, stop), name="updates-pump", daemon=True
        )
        pump.start()
        next_check = loop.time() + STORE_CHECK_S
        try:
            while pump.is_alive():
                try:
                    msgs = await asyncio.wait_for(inbox.get(), timeout=STORE_CHECK_S)
                except TimeoutError:
                    msgs = []
                fresh: list[dict[str, Any]] = [
                    {
                        "type": "update",
                        "seq": ev.seq,
                        "key": ev.key,
                        "kind": ev.kind,
                        "data": ev.data,
                    }
                    for ev in (parse_event(m.value, source="updates") for m in msgs)
                    if isinstance(ev, AnalyticsUpdate)
                ]
                for u in sorted(fresh, key=lambda u: u["seq"]):
                    if u["seq"] > self.last_seq + 1:
                        await self._catch_up(u["seq"] - 1)
                    self._push([u])
                if loop.time() >= next_check:
                    next_check = loop.time() + STORE_CHECK_S
                    await self._catch_up()
            raise RuntimeError("the updates pump stopped")
        finally:
            stop.set()

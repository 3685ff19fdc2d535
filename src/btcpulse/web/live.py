"""Live push: the broadcaster reads the updates topic and fans updates out to WebSockets.

The store's ``updates`` table is the truth (it assigns ``seq``); the topic is the fast path.
Any gap in ``seq`` (an update published late, or lost between the engine's commit and its
publish) is filled from the store, so every client sees every update once, in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import WebSocket
from pydantic import ValidationError

from btcpulse.bus.embedded import EmbeddedLog
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

    def publish(self, message: str) -> None:
        for c in list(self.clients):
            try:
                c.queue.put_nowait(message)
            except asyncio.QueueFull:
                c.overflowed = True
                self.clients.discard(c)

    async def serve(self, ws: WebSocket, hello: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Register first, then say hello: every update after the hello's seq is queued."""
        client = Client(ws)
        self.clients.add(client)
        try:
            await ws.send_text(json.dumps(await hello()))
            while not client.overflowed:
                try:
                    msg = await asyncio.wait_for(client.queue.get(), timeout=1.0)
                except TimeoutError:
                    continue
                await ws.send_text(msg)
                self.sent += 1
        finally:
            self.clients.discard(client)
            if client.overflowed:
                await ws.close(code=1013, reason="too slow; reconnect and catch up")


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

    async def run(self) -> None:
        log_ = EmbeddedLog(self.s.resolved_bus_path)
        consumer = log_.consumer(f"web-{os.getpid()}-{uuid.uuid4().hex[:6]}", "latest")
        consumer.subscribe([self.s.topic_updates])
        with self.store.read() as conn:
            self.last_seq = last_seq(conn)
        loop = asyncio.get_running_loop()
        next_check = loop.time() + STORE_CHECK_S
        try:
            while True:
                msgs = await asyncio.to_thread(consumer.poll, 0.5, 1000)
                fresh: list[dict[str, Any]] = []
                for m in msgs:
                    ev = parse_event(m.value, source="updates")
                    if isinstance(ev, AnalyticsUpdate):
                        fresh.append(
                            {
                                "type": "update",
                                "seq": ev.seq,
                                "key": ev.key,
                                "kind": ev.kind,
                                "data": ev.data,
                            }
                        )
                fresh.sort(key=lambda u: u["seq"])
                for u in fresh:
                    if u["seq"] > self.last_seq + 1:
                        await self._catch_up(u["seq"] - 1)
                    self._push([u])
                if loop.time() >= next_check:
                    next_check = loop.time() + STORE_CHECK_S
                    await self._catch_up()
        except asyncio.CancelledError:
            raise
        except (OSError, ValidationError) as exc:  # pragma: no cover - logged and restarted
            log.error("broadcaster.failed", error=str(exc))
            raise
        finally:
            consumer.close()

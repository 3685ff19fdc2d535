"""WebSocket load: many clients that follow ``/ws`` as the dashboard does, and what they saw.

Each :class:`LoadClient` behaves like ``frontend/src/ws.ts``: on every connection it holds the
pushed updates from the server's ``hello`` on, reads ``/api/v1/updates?since=<last seq>`` page
by page, then applies the held updates and is live; a closed socket is reconnected after a
1 s → 10 s backoff. Every client connects from its own loopback address (``127.1.x.y``), as
browsers come from their own IPs, so the per-IP rate limit sees one browser each.

With ``churn`` some clients also drop their socket now and then and stay away for longer than
the replay's batch interval, so that they do miss pushes and must catch up (as a browser whose
network blinks). ``ws_load_check`` judges what the clients saw against what was published.
Used by ``bench/load_ws.py`` and ``tests/test_load_ws.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

PAGE_LIMIT = 1000


def client_ip(index: int) -> str:
    """The loopback source address of client ``index`` (one per simulated browser)."""
    return f"127.1.{index // 250}.{index % 250 + 2}"


@dataclass
class ClientLog:
    """What one client saw (picklable: it crosses process boundaries)."""

    index: int
    start_seq: int = -1  # the first hello: the client is judged on every seq after it
    end_seq: int = -1  # the server's last seq when the run ended (all of it must arrive)
    last_seq: int = -1
    ws_seq: array[int] = field(default_factory=lambda: array("q"))
    ws_at: array[float] = field(default_factory=lambda: array("d"))  # time.time() at receipt
    caught: array[int] = field(default_factory=lambda: array("q"))  # from /api/v1/updates
    connects: int = 0
    closes: list[str] = field(default_factory=list)  # closes we did not ask for, and why
    reloads: int = 0  # catch-up impossible (pruned): a browser would reload its snapshots
    drops: int = 0  # sockets this client dropped on purpose (churn)
    live: bool = False


class LoadClient:
    def __init__(
        self, index: int, ws_url: str, http_base: str, churn: tuple[float, float] | None = None
    ) -> None:
        """``churn``: (seconds connected, seconds away) to drop the socket on purpose."""
        self.log = ClientLog(index)
        self.ip = client_ip(index)
        self.ws_url, self.http_base, self.churn = ws_url, http_base, churn
        self.helloed = asyncio.Event()
        self._http: httpx.AsyncClient | None = None
        self._dropped = self._ours = False

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 1.0
        try:
            while not stop.is_set():
                self._dropped = self._ours = False
                try:
                    async with connect(
                        self.ws_url,
                        open_timeout=120,
                        max_size=None,
                        proxy=None,
                        local_addr=(self.ip, 0),
                    ) as ws:
                        self.log.connects += 1
                        await self._session(ws, stop)
                    if not stop.is_set() and not self._ours:
                        self.log.closes.append(f"closed {ws.close_code}: {ws.close_reason}")
                except (OSError, TimeoutError, WebSocketException) as exc:
                    if stop.is_set():
                        break
                    if not self._ours:
                        self.log.closes.append(f"{type(exc).__name__}: {exc}"[:200])
                if self.log.live:
                    backoff = 1.0
                self.log.live = False
                away = self.churn[1] if self.churn is not None and self._dropped else backoff
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), away)
                backoff = min(backoff * 2, 10.0)
        finally:
            if self._http is not None:
                await self._http.aclose()

    async def _session(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        """One connection: hello → catch-up (holding pushed updates) → live, until closed
        (by the server, or by this client: ``_ours`` when its catch-up failed, or churn)."""
        held: list[int] = []
        tasks: list[asyncio.Task[None]] = [asyncio.create_task(_close_on(stop, ws))]
        if self.churn is not None:
            tasks.append(asyncio.create_task(self._drop_later(ws, self.churn[0])))
        try:
            async for raw in ws:
                at = time.time()
                msg = json.loads(raw)
                if msg.get("type") == "hello":
                    tasks.append(asyncio.create_task(self._catch_up(ws, int(msg["seq"]), held)))
                elif msg.get("type") == "update":
                    seq = int(msg["seq"])
                    self.log.ws_seq.append(seq)
                    self.log.ws_at.append(at)
                    if self.log.live:
                        self._apply(seq)
                    else:
                        held.append(seq)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _catch_up(self, ws: ClientConnection, target: int, held: list[int]) -> None:
        """Bring the client up to ``target`` (its hello) from the REST endpoint, then go live;
        when that fails, close the socket: the next connection tries again (as ws.ts does)."""
        try:
            await self._pages(target)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            self.log.closes.append(f"catch-up failed: {type(exc).__name__}: {exc}"[:200])
            self._ours = True
            await ws.close()
            return
        self.log.last_seq = max(self.log.last_seq, target)
        for seq in sorted(held):
            self._apply(seq)
        held.clear()
        self.log.live = True
        self.helloed.set()

    async def _drop_later(self, ws: ClientConnection, after_s: float) -> None:
        await asyncio.sleep(after_s)
        self._dropped = self._ours = True
        self.log.drops += 1
        await ws.close()

    async def _pages(self, target: int) -> None:
        log = self.log
        if log.start_seq < 0:  # first connection, no snapshot: start from the hello
            log.start_seq = log.last_seq = target
        if self._http is None:
            # plain http on loopback: no TLS context (building one blocks the loop ~0.1 s)
            transport = httpx.AsyncHTTPTransport(local_address=self.ip, verify=False)
            self._http = httpx.AsyncClient(base_url=self.http_base, transport=transport)
        while True:
            since = log.last_seq
            r = await self._http.get(
                "/api/v1/updates", params={"since": since, "limit": PAGE_LIMIT}, timeout=60
            )
            r.raise_for_status()
            body: dict[str, Any] = r.json()
            if body.get("first_seq") is not None and since < int(body["first_seq"]) - 1:
                log.reloads += 1  # pruned: a browser reloads its snapshots and goes on
                log.last_seq = max(log.last_seq, target)
                break
            seqs = sorted(int(u["seq"]) for u in body["updates"])
            for seq in seqs:
                log.caught.append(seq)
                self._apply(seq)
            if len(seqs) < PAGE_LIMIT:
                break

    def _apply(self, seq: int) -> None:
        if seq > self.log.last_seq:
            self.log.last_seq = seq


async def _close_on(stop: asyncio.Event, ws: ClientConnection) -> None:
    await stop.wait()
    await ws.close()


def server_last_seq(base: str) -> int:
    """The newest seq the store holds (``last_seq`` of ``/api/v1/updates``)."""
    r = httpx.get(f"{base}/api/v1/updates", params={"since": 2**62, "limit": 1}, timeout=10)
    r.raise_for_status()
    return int(r.json()["last_seq"])


def wait_settled(base: str, timeout_s: float = 300.0, quiet: int = 100) -> int:
    """Wait until the replay's history (published at once on start) is through the engine:
    ``last_seq`` > 0 and it grew by less than ``quiet`` in the last 3 s. Returns it."""
    seen: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            now, seq = time.monotonic(), server_last_seq(base)
            seen.append((now, seq))
            old = [q for at, q in seen if at <= now - 3.0]
            if seq > 0 and old and seq - old[-1] < quiet:
                return seq
        time.sleep(0.5)
    raise TimeoutError(f"the updates did not settle within {timeout_s:g} s: {seen[-5:]}")


@dataclass(frozen=True)
class LoadPlan:
    ws_url: str
    http_base: str
    clients: int
    seconds: float
    first_client: int = 0  # client indexes (source addresses) start here
    churn_every: int = 0  # every n-th client drops its socket now and then (0: none)
    churn: tuple[float, float] = (10.0, 8.0)  # (seconds connected, seconds away)
    connect_concurrency: int = 50
    drain_timeout_s: float = 180.0


@dataclass
class LoadRun:
    logs: list[ClientLog]
    connect_s: float  # until every client was live
    wall_s: float
    cpu_s: float  # this client process
    loop_lag_ms: list[float]  # client event-loop lag samples (inflate the measured latency)
    drained: bool  # every client reached the end seq in time


async def _lag_monitor(stop: asyncio.Event, out: list[float], every: float = 0.1) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t0 = loop.time()
        await asyncio.sleep(every)
        out.append((loop.time() - t0 - every) * 1000)


async def run_load(plan: LoadPlan) -> LoadRun:
    """Connect ``plan.clients`` clients, keep them for ``plan.seconds``, then wait until each
    has everything up to the server's last seq at that moment, and close them."""
    t0, cpu0 = time.monotonic(), time.process_time()
    stop, lag_stop = asyncio.Event(), asyncio.Event()
    lags: list[float] = []
    lag_task = asyncio.create_task(_lag_monitor(lag_stop, lags))
    gate = asyncio.Semaphore(plan.connect_concurrency)
    clients = [
        LoadClient(
            i,
            plan.ws_url,
            plan.http_base,
            plan.churn if plan.churn_every and i % plan.churn_every == 0 else None,
        )
        for i in range(plan.first_client, plan.first_client + plan.clients)
    ]

    async def start(c: LoadClient) -> asyncio.Task[None]:
        async with gate:
            task = asyncio.create_task(c.run(stop))
            await asyncio.wait_for(c.helloed.wait(), 300)
            return task

    tasks = await asyncio.gather(*(start(c) for c in clients))
    connect_s = time.monotonic() - t0
    lags.clear()  # judge the client's own lag over the run, not while connecting
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), plan.seconds)  # the run itself
    end = await asyncio.to_thread(server_last_seq, plan.http_base)
    deadline = time.monotonic() + plan.drain_timeout_s
    while time.monotonic() < deadline and not all(c.log.last_seq >= end for c in clients):
        await asyncio.sleep(0.1)
    drained = all(c.log.last_seq >= end for c in clients)
    for c in clients:
        c.log.end_seq = end
    stop.set()
    await asyncio.gather(*tasks)
    lag_stop.set()
    await lag_task
    return LoadRun(
        [c.log for c in clients],
        connect_s,
        time.monotonic() - t0,
        time.process_time() - cpu0,
        lags,
        drained,
    )


def run_load_sync(plan: LoadPlan) -> LoadRun:
    """:func:`run_load` in a fresh event loop (the entry point of a client process)."""
    return asyncio.run(run_load(plan))

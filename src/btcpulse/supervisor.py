"""``btcpulse up``: start every component as a child process and keep them running.

Children are restarted with backoff when they die (each restart is recorded in health) and
all are stopped on SIGTERM/SIGINT. A one-shot child (the history backfill) is done once it
exits 0; a failure is retried with backoff up to ``ONESHOT_ATTEMPTS`` times, then given up
(recorded in health): never fatal. A child whose parent is killed exits too (Linux
parent-death signal), so no orphan keeps writing.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import structlog

from btcpulse.collectors.health import HealthReporter
from btcpulse.store.db import Store

log = structlog.get_logger("supervisor")

PR_SET_PDEATHSIG = 1
ONESHOT_ATTEMPTS = 3
REPORT_EVERY_S = 60.0
"""A running child's health is written again this often: the health view calls a row that
has not been written for 3 minutes stale, and a write lost to a store outage is redone."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class Child:
    name: str
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started: float = 0.0
    next_start: float = 0.0
    delay: float = 1.0
    health: HealthReporter | None = field(default=None, repr=False)
    oneshot: bool = False
    finished: bool = False
    reported: float = 0.0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "btcpulse", *self.args], preexec_fn=_die_with_parent
        )
        self.started = time.monotonic()
        log.info("child.started", child=self.name, pid=self.proc.pid)
        self.report()

    def report(self) -> None:
        """Health: running, with its pid and restart count."""
        if self.health and self.proc is not None:
            self.health.up(detail=f"pid {self.proc.pid}, restarts {self.restarts}")
        self.reported = time.monotonic()


class Supervisor:
    def __init__(
        self, store: Store, children: dict[str, list[str]], oneshot: set[str] | None = None
    ) -> None:
        self.children = [
            Child(
                n,
                a,
                health=HealthReporter(store, f"process:{n}", "process"),
                oneshot=n in (oneshot or set()),
            )
            for n, a in children.items()
        ]
        self.stop = threading.Event()

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("supervisor.signal", signal=signal.Signals(signum).name)
        self.stop.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for c in self.children:
            c.start()
        while not self.stop.wait(0.5):
            now = time.monotonic()
            for c in self.children:
                if c.proc is not None and c.proc.poll() is not None:
                    code = c.proc.returncode
                    if c.oneshot and (code == 0 or c.restarts + 1 >= ONESHOT_ATTEMPTS):
                        self._finish(c, code)
                        continue
                    c.delay = 1.0 if now - c.started > 60 else min(c.delay * 2, 30.0)
                    c.next_start = now + c.delay
                    c.proc = None
                    c.restarts += 1
                    log.warning("child.died", child=c.name, code=code, restart_in=c.delay)
                    if c.health:
                        c.health.down(
                            f"exited with code {code}", detail=f"restart in {c.delay:.0f}s"
                        )
                if c.proc is None and not c.finished and now >= c.next_start:
                    c.start()
                elif c.proc is not None and now - c.reported >= REPORT_EVERY_S:
                    c.report()
        self.shutdown()
        return 0

    def _finish(self, c: Child, code: int) -> None:
        """A one-shot child is done (exit 0) or given up (its own errors are recorded)."""
        c.proc, c.finished = None, True
        log.info("child.finished", child=c.name, code=code, attempts=c.restarts + 1)
        if c.health:
            if code == 0:
                c.health.status("done", detail="finished")
            else:
                c.health.down(
                    f"exited with code {code}",
                    detail=f"given up after {c.restarts + 1} attempts; not retried until restart",
                )

    def shutdown(self, grace_s: float = 10.0) -> None:
        live = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for p in live:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in live:
            try:
                p.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.info("supervisor.stopped")

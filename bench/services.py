"""The ``btcpulse`` subprocesses the latency part runs: start, readiness, CPU use and stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from common import ROOT


@dataclass
class Service:
    """A running ``btcpulse`` subprocess (in its own session) and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, grace_s: float = 3.0) -> tuple[float, bool]:
        """SIGTERM, then SIGKILL after ``grace_s``; return (seconds, exited on its own)."""
        t0 = time.perf_counter()
        if self.proc.poll() is not None:
            return 0.0, True
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace_s)
            return time.perf_counter() - t0, True
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only this child
            self.proc.wait(5)
            return time.perf_counter() - t0, False

    def tail(self) -> str:
        """The end of its log, for error messages."""
        return self.log_path.read_text(errors="replace")[-3000:]


def cpu_ticks(pids: list[int]) -> tuple[int, int]:
    """(busy ticks of the whole machine, ticks used by ``pids`` and this process) so far."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        busy = user + nice + system + irq + softirq + steal
        ours = 0
        for pid in [os.getpid(), *pids]:
            stat = Path(f"/proc/{pid}/stat").read_text()
            rest = stat.rsplit(")", 1)[1].split()
            ours += int(rest[11]) + int(rest[12])  # utime, stime
    except (OSError, ValueError, IndexError):
        return 0, 0
    return busy, ours


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(name: str, args: list[str], env: dict[str, str], logs: Path) -> Service:
    """Start ``python -m btcpulse *args`` in the repo, output to ``logs/<name>.log``. The API's
    per-client rate limit is off: a benchmark's one client measures the server, not the limit."""
    env = {"BTCPULSE_API_RATE_PER_S": "0", **env}
    log_path = logs / f"{name}.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "btcpulse", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )
    return Service(name, proc, log_path)


def ready(base: str) -> bool:
    """Whether ``/readyz`` at ``base`` says ready."""
    with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
        return bool(json.loads(r.read())["ready"])

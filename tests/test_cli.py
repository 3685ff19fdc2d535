"""The command line: help, migrate and doctor (non-zero exit on a failed check)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import child_env

from btcpulse.config import Settings


def _run(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "btcpulse", *args],
        env=child_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_every_command(settings: Settings) -> None:
    out = _run(settings, "--help").stdout
    for cmd in ("up", "serve", "process", "collect", "replay", "doctor", "migrate"):
        assert cmd in out


def test_doctor_passes_on_a_migrated_store(settings: Settings) -> None:
    assert _run(settings, "migrate").returncode == 0
    res = _run(settings, "doctor", COLUMNS="200")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "FAILED" not in res.stdout and "4200 records" in res.stdout
    assert "file store.db" in res.stdout  # sizes: every table with rows, the files


def test_doctor_fails_on_a_missing_replay_bundle(settings: Settings, tmp_path: Path) -> None:
    _run(settings, "migrate")
    res = _run(settings, "doctor", BTCPULSE_REPLAY_PATH=str(tmp_path / "nowhere"), COLUMNS="200")
    assert res.returncode == 1
    assert "FAILED" in res.stdout and "replay bundle" in res.stdout


def test_doctor_fails_on_an_unmigrated_store(settings: Settings) -> None:
    res = _run(settings, "doctor", COLUMNS="200")
    assert res.returncode == 1 and "schema is not at the latest migration" in res.stdout


def test_the_cli_loads_no_analytics_before_a_command_runs() -> None:
    """`btcpulse process` sets POLARS_MAX_THREADS before polars loads; importing the CLI must
    not load polars already (it would fix the thread pool too early)."""
    code = "import sys, btcpulse.cli; print('polars' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

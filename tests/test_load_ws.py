"""WebSocket load, short variant of ``bench/load_ws.py`` (issue 10): 100 clients for 30 s on
``btcpulse up --no-live`` with the replay at 10x.

Asserts behaviour, not speed: every client ends with every update published after its first
hello (pushed, caught up through ``/api/v1/updates`` after a reconnect, or superseded by a newer
snapshot of the same key; a tenth of the clients drop their socket on purpose so that the
catch-up is exercised), and the web app's resident memory at the end is within a generous
bound of its value once the clients were connected (a leak check). The push latency is
measured and reported (printed and written to ``tests/artifacts/load_ws.json``), never
asserted: speed targets belong to the benchmark.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, wait_for
from harness import Running

from btcpulse.config import Settings
from btcpulse.testing.ws_load import ClientLog, LoadPlan, LoadRun, run_load, wait_settled
from btcpulse.testing.ws_load_check import (
    Published,
    analyse,
    find_child,
    published_updates,
    rss_kb,
)

pytestmark = pytest.mark.slow
CLIENTS, SECONDS = 100, 30.0
# Every 10th client drops its socket after 10 s and stays away 8 s (longer than the 6 s between
# the replay's batches at 10x): it misses pushes and has to catch up, as a real client would.
CHURN_EVERY, CHURN = 10, (10.0, 8.0)
ARTIFACT = ROOT / "tests" / "artifacts" / "load_ws.json"
# The leak bound: the web app may grow by this much (MB) plus 20 % once the clients are in.
RSS_SLACK_MB, RSS_SLACK_FRACTION = 30.0, 0.20


async def _load_sampling_rss(plan: LoadPlan, pid: int) -> tuple[LoadRun, list[tuple[float, int]]]:
    """Run the clients while sampling the web app's VmRSS (kB) once a second."""
    samples: list[tuple[float, int]] = []

    async def sample() -> None:
        while True:
            samples.append((time.monotonic(), rss_kb(pid)))
            await asyncio.sleep(1.0)

    t0 = time.monotonic()
    sampler = asyncio.create_task(sample())
    try:
        run = await run_load(plan)
    finally:
        sampler.cancel()
    samples.append((time.monotonic(), rss_kb(pid)))
    return run, [(at - t0, kb) for at, kb in samples]


def test_100_clients_miss_nothing_and_memory_stays_bounded(
    settings: Settings, tmp_path: Path
) -> None:
    up = Running(settings, tmp_path / "up.log", BTCPULSE_REPLAY_SPEED="10")
    try:
        up.wait_ready(180)
        wait_settled(up.base, 240)  # the replay's history is through the engine
        serve = wait_for(
            lambda: find_child(up.proc.pid, ("btcpulse", "serve")), 30, "the `serve` child"
        )
        assert serve is not None
        plan = LoadPlan(
            f"ws://127.0.0.1:{settings.port}/ws",
            up.base,
            CLIENTS,
            SECONDS,
            churn_every=CHURN_EVERY,
            churn=CHURN,
        )
        run, rss = asyncio.run(_load_sampling_rss(plan, serve))
        still = find_child(up.proc.pid, ("btcpulse", "serve"))
    finally:
        code = up.stop()
    assert code == 0, up.log()
    assert still == serve, "the web app was restarted during the run"

    report = analyse(run.logs, published_updates(
        settings.resolved_bus_path, settings.topic_updates, settings.resolved_store_url
    ))  # fmt: skip
    # warm = the clients are in (connected, caught up) and a few pushes went out
    warm = [kb for at, kb in rss if run.connect_s + 3 <= at <= run.connect_s + 8]
    warm_mb, end_mb = max(warm) / 1024, rss[-1][1] / 1024
    bound_mb = warm_mb * (1 + RSS_SLACK_FRACTION) + RSS_SLACK_MB
    summary = {
        "clients": CLIENTS,
        "seconds": SECONDS,
        "report": dataclasses.asdict(report),
        "connect_s": run.connect_s,
        "drained": run.drained,
        "client_cpu_pct": run.cpu_s / run.wall_s * 100,
        "serve_rss_mb": {"warm": warm_mb, "end": end_mb, "bound": bound_mb},
    }
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(summary, indent=2))
    print(
        f"\nload_ws: {CLIENTS} clients x {SECONDS:g} s: push latency "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in report.push_ms.items())
        + f" ({report.samples} samples); misses {report.misses}; disconnects "
        f"{report.disconnects}; serve RSS {warm_mb:.1f} -> {end_mb:.1f} MB (bound "
        f"{bound_mb:.1f})"
    )

    assert report.clients == CLIENTS
    assert report.drops >= CLIENTS // CHURN_EVERY, "the churning clients did not drop"
    assert report.caught_up > 0, "no client had anything to catch up: the check proves little"
    assert report.updates_published > 0 and report.samples > 0, "nothing was pushed"
    assert run.drained, "some clients never reached the server's last seq"
    assert report.misses == 0, f"{report.clients_missing} clients missed {report.misses} updates"
    assert report.unknown == 0 and report.duplicates == 0, report
    assert report.expected == report.received + report.superseded
    assert "p99" in report.push_ms
    assert end_mb <= bound_mb, f"web app RSS grew {warm_mb:.1f} -> {end_mb:.1f} MB in {SECONDS}s"


def test_the_completeness_check_counts_a_lost_update() -> None:
    """The check above can fail: a seq neither received nor replaced by a newer snapshot the
    client's catch-up brought is a miss."""
    pub = Published(
        np.arange(1, 6, dtype=np.int64),
        np.array([0, 1, 0, 2, 3], dtype=np.int64),  # keys of seqs 1..5: a b a c d
        np.zeros(5),
        np.zeros(5),
    )

    def log(pushed: list[int], caught: list[int] = []) -> ClientLog:  # noqa: B006
        g = ClientLog(0, start_seq=0, end_seq=5)
        g.ws_seq.extend(pushed)
        g.ws_at.extend([0.0] * len(pushed))
        g.caught.extend(caught)
        return g

    everything = log([1, 2, 3, 4, 5])
    lost = analyse([everything, log([1, 2, 4, 5])], pub)  # 3 (key a): nothing newer for a
    assert (lost.misses, lost.superseded, lost.clients_missing) == (1, 0, 1)
    # 1 (key a) pushed to the others; this client was away and got 3 from its catch-up: fine
    caught = analyse([everything, log([4, 5], caught=[2, 3])], pub)
    assert (caught.misses, caught.superseded, caught.received) == (0, 1, 9)
    # ... but had it only got 3 pushed after coming back, its catch-up brought nothing: a miss
    pushed = analyse([everything, log([3, 4, 5], caught=[2])], pub)
    assert (pushed.misses, pushed.superseded) == (1, 0)
    # 1 pushed to no client at all (the server's gap fill from the store skipped it): fine
    skipped = analyse([log([2, 3, 4, 5])], pub)
    assert (skipped.misses, skipped.superseded) == (0, 1)

"""Fault test, distributed mode: the bus unreachable for 30 s. A local TCP proxy
(``tcp_proxy.py``) stands between every client and the broker (tansu advertises the proxy's
address, so no client goes around it); cutting it resets every connection and refuses new
ones. ``btcpulse up --mode distributed`` (the Spark job on ``local[1]``, the web app, under
the supervisor) consumes, a replay of recorded data produces through the cut: nothing lost,
nothing duplicated in the store, the fault visible while it lasts, recovery on its own.
"""

from __future__ import annotations

import csv
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from chaos import (
    Proc,
    clean_replay,
    long_run,
    record,
    store_diff,
    stored_events,
    totals,
)
from chaos import until_progress as until
from conftest import REPLAY, _service_or_skip, free_port
from spark_fixtures import distributed_stack, spark_applied
from tcp_proxy import TcpProxy

from btcpulse.collectors.replay.bundle import load_bundle
from btcpulse.store import queries
from btcpulse.store.db import Store
from btcpulse.store.writes import get_state
from btcpulse.testing.services import Broker, Postgres, tansu_binary, wait_port

pytestmark = pytest.mark.slow
BARS = 120  # the small bundle: two recorded hours, a 2-minute time-lapse at 60x (long: 6)


@pytest.fixture
def proxied_broker(tmp_path: Path) -> Iterator[tuple[Broker, TcpProxy]]:
    """A tansu of this test's own that advertises a proxy in front of it."""
    binary = tansu_binary()
    if binary is None:
        _service_or_skip("the Kafka-protocol broker (tansu)", RuntimeError("not installed"))
    assert binary is not None
    port = free_port()
    proxy = TcpProxy(port).start()
    out = (tmp_path / "tansu.log").open("ab")
    proc = subprocess.Popen(
        [
            str(binary),
            "broker",
            *("--listener-url", f"tcp://127.0.0.1:{port}"),
            *("--advertised-listener-url", f"tcp://{proxy.address}"),
            *("--storage-engine", "memory://tansu/"),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    broker = Broker(port, proc)
    try:
        wait_port(port, 20.0, proc)
        yield broker, proxy
    finally:
        proxy.stop()
        broker.stop()
        out.close()


def _small_bundle(folder: Path, bars: int) -> Path:
    """The last ``bars`` recorded minutes of the replay bundle and the headlines in them."""
    folder.mkdir(parents=True)
    src_csv = next(REPLAY.glob("*.csv"))
    src_xml = next(REPLAY.glob("*.xml"))
    tree = ET.parse(src_xml)
    channel = tree.getroot().find("channel")
    assert channel is not None
    items = channel.findall("item")
    end = max(parsedate_to_datetime(str(i.findtext("pubDate"))) for i in items)
    with src_csv.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if datetime.fromisoformat(r["open_time"]) <= end]
    rows = rows[-bars:]
    start = datetime.fromisoformat(rows[0]["open_time"])
    for i in items:
        if parsedate_to_datetime(str(i.findtext("pubDate"))) < start:
            channel.remove(i)
    tree.write(folder / src_xml.name, encoding="utf-8", xml_declaration=True)
    with (folder / src_csv.name).open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return folder


def _get(base: str, path: str) -> tuple[int, Any]:
    try:
        r = httpx.get(base + path, timeout=4)
        return r.status_code, r.json()
    except (httpx.HTTPError, ValueError) as exc:
        return 0, str(exc)


def _health(store: Store) -> dict[str, dict[str, Any]]:
    try:
        with store.read() as conn:
            return {x["name"]: x for x in queries.health(conn)["sources"]}
    except Exception:
        return {}


@pytest.mark.timeout(1200)
def test_bus_unreachable_for_30_s_nothing_lost(
    tmp_path: Path, proxied_broker: tuple[Broker, TcpProxy], postgres: Postgres
) -> None:
    _need_pyspark()
    broker, proxy = proxied_broker
    outage_s = 30.0
    cuts = 3 if long_run() else 1
    stack = distributed_stack(tmp_path / "dist", broker, postgres, bootstrap=proxy.address)
    store = stack.store
    bundle = _small_bundle(tmp_path / "bundle", 3 * BARS if long_run() else BARS)
    records = len(load_bundle(bundle).records)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**stack.env, "BTCPULSE_PORT": str(port), "BTCPULSE_REPLAY_MODE": "off"}
    log = tmp_path / "run.log"
    up = Proc(["up", "--no-live", "--mode", "distributed"], env, log)
    replay: Proc | None = None
    seen: dict[str, Any] = {}
    try:
        until(lambda: _get(base, "/readyz")[0] == 200, up, 120, "the web app ready")
        args = ["replay", str(bundle), "--speed", "60", "--no-loop", "--mode", "always"]
        replay = Proc(args, env, log)
        until(lambda: spark_applied(store, stack.inputs)[0] >= records, up, 400, "history in")
        for n in range(cuts):
            proxy.cut()
            down_at = time.monotonic()
            while time.monotonic() - down_at < outage_s:
                _observe(base, store, down_at, seen, n)
                assert up.alive(), up.tail()
                time.sleep(0.5)
            proxy.restore()
            time.sleep(0 if n == cuts - 1 else 10)
        back_at = time.monotonic()
        until(lambda: replay is not None and not replay.alive(), up, 400, "the replay done")
        assert replay.proc.returncode == 0, replay.tail()
        with store.read() as conn:
            state = get_state(conn, "replay")
        assert state is not None
        emitted = state["loop"] * records + state["index"]
        clean, expected = clean_replay(tmp_path / "clean", state, emitted, replay_path=bundle)
        until(lambda: stored_events(store).keys() >= expected.keys(), up, 400, "everything stored")
        caught_up_s = time.monotonic() - back_at
        time.sleep(3)  # anything more (a duplicate) would show up now
        health_after = {k: f"{v['status']}: {v['detail']}" for k, v in _health(store).items()}
        assert up.stop(90) == 0, up.tail()
    finally:
        for p in (replay, up):
            if p is not None and p.alive():
                p.kill()
    stored = stored_events(store)
    diff = store_diff(clean, store)
    sums = totals(diff)
    record(
        "fault_bus_unreachable",
        {
            "command": "pytest tests/test_faults_bus.py",
            "cuts": cuts,
            "outage_s_each": outage_s,
            "proxy_connections_accepted": proxy.accepted,
            "seen_during_outage": seen,
            "caught_up_s_after_last_cut": round(caught_up_s, 1),
            "health_after": health_after,
            "records_emitted": emitted,
            "lost_records": len(expected.keys() - stored.keys()),
            "extra_records": len(stored.keys() - expected.keys()),
            "lost_rows": sums["lost"],
            "duplicated_rows": sums["dup"],
            "changed_rows": sums["changed"],
            "tables": diff,
        },
    )
    assert any(k.startswith("readyz_bus_unreachable") for k in seen), seen
    assert any(k.startswith("replay:down") for k in seen), seen  # the producer's fault
    # after it, every process is reported running again (none left 'down' or 'stale')
    assert all(v.startswith("up") for k, v in health_after.items() if k.startswith("process:"))
    assert stored.keys() == expected.keys() and max(stored.values()) == 1
    assert sums["lost"] == 0 and sums["dup"] == 0 and sums["changed"] == 0, diff


def _need_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:  # the optional 'distributed' extra
        _service_or_skip("pyspark", exc)


def _observe(base: str, store: Store, t0: float, seen: dict[str, Any], n: int) -> None:
    """What the dashboard and the probes say during cut ``n`` (first time each is seen)."""
    at = round(time.monotonic() - t0, 1)
    code, body = _get(base, "/readyz")
    if code == 503 and str(body["checks"].get("bus", "")).startswith("unreachable"):
        seen.setdefault(f"readyz_bus_unreachable[{n}]", at)
    for name, x in _health(store).items():
        if x["status"] in ("down", "stale") and name in ("replay", "engine", "process:engine"):
            key = f"{name}:{x['status']}[{n}]"
            seen.setdefault(key, {"at_s": at, "reason": x["last_error_reason"]})

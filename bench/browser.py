"""Browser part: the dashboard's time to first chart over a year of 1-second data.

Headless Debian Chromium (Playwright) loads the dashboard from a real ``btcpulse serve`` over
the store of ``ranges.py``, each time in a new browser context (no cache, no connections), and
the page itself records ``performance.now()`` (ms since its navigation started) when the chart
first holds candles (``data-candles`` > 0 on ``[data-testid=price-chart]``).
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import Figure, Plan, percentile
from ranges import is_quick, serve_store, year_db

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [  # as tests/test_browser.py
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# Runs before the page's own scripts: the first moment the chart holds candles, on the page's
# clock (performance.now() is relative to its navigation start).
MARK_FIRST_CHART = """
(() => {
  const now = performance.now.bind(performance);
  const check = () => {
    const el = document.querySelector("[data-testid=price-chart]");
    const n = el ? Number(el.dataset.candles || 0) : 0;
    if (n > 0 && window.__firstChart === undefined) {
      const nav = performance.getEntriesByType("navigation")[0];
      const api = (path) => performance.getEntriesByType("resource")
        .filter((e) => new URL(e.name).pathname === path)
        .map((e) => [e.startTime, e.responseEnd])[0] || [0, 0];
      window.__firstChart = {
        ms: now(), candles: n, resolution: el.dataset.resolution || "",
        dcl: nav ? nav.domContentLoadedEventEnd : 0,
        venues: api("/api/v1/venues"), chart: api("/api/v1/candles"),
      };
    }
    return n > 0;
  };
  const seen = new MutationObserver(() => { if (check()) seen.disconnect(); });
  seen.observe(document, { subtree: true, childList: true, attributes: true,
                           attributeFilter: ["data-candles"] });
})();
"""
# (label, query string)
VIEWS: tuple[tuple[str, str], ...] = (("default view", ""), ("?range=1y", "?range=1y"))


@dataclass(frozen=True)
class Load:
    """One cold load, as the page saw it (ms since its navigation started)."""

    ms: float  # the chart first holds candles
    dcl: float  # DOMContentLoaded done
    venues: tuple[float, float]  # GET /api/v1/venues: start, response end
    chart: tuple[float, float]  # GET /api/v1/candles: start, response end
    candles: int
    resolution: str
    range_shown: str  # the range button pressed once loaded ("" when there is none)


def load_once(browser: Any, url: str) -> Load:
    """One cold load in a new context."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        context.add_init_script(MARK_FIRST_CHART)
        page = context.new_page()
        page.goto(url, wait_until="commit")
        page.wait_for_function("() => window.__firstChart !== undefined", timeout=60_000)
        got = page.evaluate(
            """() => ({
              ...window.__firstChart,
              range: document.querySelector("[data-range][aria-pressed=true]")?.dataset.range
                ?? "",
            })"""
        )
        return Load(
            float(got["ms"]),
            float(got["dcl"]),
            (float(got["venues"][0]), float(got["venues"][1])),
            (float(got["chart"][0]), float(got["chart"][1])),
            int(got["candles"]),
            str(got["resolution"]),
            str(got["range"]),
        )
    finally:
        context.close()


def bench_browser(plan: Plan, tmp: Path) -> list[Figure]:
    """Time to first chart, cold, for the default view and the year view (skips without
    Chromium)."""
    if not CHROMIUM.exists():
        print(f"bench_browser: skipped: no Chromium at {CHROMIUM}", file=sys.stderr)
        return []
    from playwright.sync_api import sync_playwright

    n = 5 if is_quick(plan) else 15
    db, _cached = year_db(plan)
    got: dict[str, list[Load]] = {}
    with serve_store(db, tmp / "browser") as (base, _pid), sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            for label, query in VIEWS:
                load_once(browser, base + "/" + query)  # warm-up: server caches, Chromium
                got[label] = [load_once(browser, base + "/" + query) for _ in range(n)]
        finally:
            browser.close()
    figs: list[Figure] = []
    for label, query in VIEWS:
        loads = got[label]
        ms = [x.ms for x in loads]
        x = loads[-1]

        def med(of: list[float]) -> float:
            return statistics.median(of)

        parts = (
            f"medians: DOMContentLoaded {med([ld.dcl for ld in loads]):.0f} ms, `/api/v1/venues` "
            f"{med([ld.venues[0] for ld in loads]):.0f} → {med([ld.venues[1] for ld in loads]):.0f}"
            f" ms, `/api/v1/candles` {med([ld.chart[0] for ld in loads]):.0f} → "
            f"{med([ld.chart[1] for ld in loads]):.0f} ms"
        )
        shown = f"range {x.range_shown}" if x.range_shown else "no range button pressed"
        note = ""
        if query and query.removeprefix("?range=") != x.range_shown:
            note = f"; the served bundle does not know `{query}`: it showed its {shown}"
        how = (
            f"{len(ms)} cold loads (new browser context each, after one warm-up) of `/{query}` "
            f"in headless Chromium from `btcpulse serve` over {db.days} days of 1 s candles; "
            "navigation start → `data-candles` > 0 on the chart, `performance.now()` in the "
            f"page; {shown}; the chart then held {x.candles:,} candles (resolution {x.resolution})"
            f"; {parts}{note}"
        )
        figs += [
            Figure(
                f"browser: time to first chart, {label} median", statistics.median(ms), "ms", how
            ),
            Figure(
                f"browser: time to first chart, {label} p95",
                percentile(ms, 95),
                "ms",
                f"as above (nearest rank of {len(ms)}: the slowest)"
                if len(ms) < 20
                else "as above",
            ),
        ]
    return figs

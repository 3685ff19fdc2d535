"""The Scrapy article stage, for real: ``btcpulse collect articles`` in its own process, fed from
the embedded bus, fetching article pages from a local web server (built from real headlines
and descriptions of tests/fixtures/theblock_rss_2025-12-12.xml), producing back to the bus;
then the engine stores each article once, with its text."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import drain_engine, wait_for
from sqlalchemy import select

from btcpulse.bus.base import TopicPartition
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.news.articles.runner import spawn_articles_process
from btcpulse.config import Settings
from btcpulse.events import DeadLetter, NewsItem, article_id, encode, parse_event
from btcpulse.store import schema as t
from btcpulse.store.db import Store

NAV = "Home Markets Policy Subscribe to our newsletter Sign in"
AD = "Advertisement: trade 100x leverage with ZeroFeeExchange today"
FOOTER = "© 2025 The Block. All rights reserved. Privacy policy"

TETHER = [
    'Tether, already a minority shareholder in Juventus, is "prepared to invest 1 billion'
    ' Euros in the support and development of the club."',
    "The stablecoin issuer made its offer to Exor, the holding company of the Agnelli family"
    " that controls the Italian football club, according to a statement published on Friday.",
    "Tether said the bid would be paid entirely in cash and that it would keep the club's"
    " management in place while it reviews the club's long-term strategy.",
]
CITADEL = [
    "DeFi proponents are pushing back against Citadel Securities' stance that the SEC should"
    " impose stricter rules on DeFi.",
    "In a letter to the SEC's crypto task force, a coalition of DeFi groups argued that"
    " self-custodial software is not an exchange and should not be regulated as a broker.",
    "Citadel Securities had asked the agency to treat tokenized equities traded on DeFi"
    " protocols exactly like the securities they represent.",
]


def _page(title: str, author: str, published: str | None, paragraphs: list[str]) -> bytes:
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - The Block</title>
<meta name="author" content="{author}">{meta}
<meta property="og:title" content="{title}"></head>
<body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/markets">Markets</a></li>
<li><a href="/policy">Policy</a></li></ul><p>{NAV}</p></nav></header>
<aside class="ad-slot"><div class="advert">{AD}</div></aside>
<main><article>
<h1>{title}</h1>
<div class="byline">By <a rel="author" href="/author/x">{author}</a></div>
{body}
</article></main>
<footer><p>{FOOTER}</p></footer>
</body></html>""".encode()


PAGES: dict[str, tuple[int, str, bytes]] = {
    "/robots.txt": (200, "text/plain", b"User-agent: *\nDisallow: /private/\n"),
    "/post/382433/tether-juventus": (
        200,
        "text/html; charset=utf-8",
        _page(
            "Crypto giant Tether offers to buy famous Italian football club Juventus",
            "RT Watson",
            "2025-12-12T16:25:59-05:00",
            TETHER,
        ),
    ),
    "/post/382421/defi-citadel": (
        200,
        "text/html; charset=utf-8",
        _page(
            "DeFi groups fire back against Citadel Securities' call for 'flawed' SEC"
            " tokenization rules",
            "Sarah Wynn",
            "2025-12-12T15:23:11-05:00",
            CITADEL,
        ),
    ),
    "/private/draft": (200, "text/html", _page("Draft", "Nobody", None, ["secret draft"] * 3)),
    "/broken": (500, "text/html", b"<h1>Internal Server Error</h1>"),
    "/report.pdf": (200, "application/pdf", b"%PDF-1.7\n" + b"0" * 2000),
    "/huge": (200, "text/html", b"<html><body>" + b"<p>padding</p>" * 5000 + b"</body></html>"),
}
SLOW_S = 4.0


class _Site:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (path, user agent)
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append((self.path, self.headers.get("User-Agent", "")))
                if self.path == "/slow":
                    time.sleep(SLOW_S)
                    status, ctype, body = 200, "text/html", b"<html>late</html>"
                else:
                    status, ctype, body = PAGES.get(self.path, (404, "text/plain", b"nope"))
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]


@pytest.fixture
def site() -> Iterator[_Site]:
    s = _Site()
    yield s
    s.server.shutdown()
    s.server.server_close()


FETCHED = datetime.now(UTC).replace(microsecond=0)  # fetched now: article text is kept 30 days


def _item(site: _Site, path: str, *, source: str = "theblock", **kw: Any) -> NewsItem:
    url = site.base + path
    fields: dict[str, Any] = {
        "id": article_id(url),
        "source": source,
        "url": url,
        "title": f"Item at {path}",
        "published_at": datetime(2025, 12, 12, 21, 25, 59, tzinfo=UTC),
        "fetched_at": FETCHED,
        **kw,
    }
    if path == "/post/382433/tether-juventus":
        fields["title"] = "Crypto giant Tether offers to buy famous Italian football club Juventus"
        fields["summary"] = TETHER[0]
    return NewsItem(**fields)


def _bus_events(bus: EmbeddedLog, settings: Settings) -> list[Any]:
    c = bus.consumer(f"reader-{time.monotonic_ns()}")
    c.subscribe([settings.topic_news, settings.topic_deadletters])
    out = []
    while msgs := c.poll(0.1):
        out += [parse_event(m.value) for m in msgs]
    c.close()
    return out


@pytest.mark.slow
def test_spider_fetches_articles_to_the_bus_and_the_engine_stores_each_once(
    settings: Settings, store: Store, bus: EmbeddedLog, site: _Site, tmp_path: Path
) -> None:
    tether = _item(site, "/post/382433/tether-juventus")
    citadel = _item(site, "/post/382421/defi-citadel", time_estimated=True, published_at=FETCHED)
    # the same article again, later, from a second source, its link with tracking parameters
    tether_again = _item(
        site,
        "/post/382433/tether-juventus?utm_source=rss&utm_medium=rss",
        source="reddit",
        published_at=tether.published_at + timedelta(hours=2),
    )
    assert tether_again.id == tether.id
    failing = [_item(site, p) for p in ("/private/draft", "/broken", "/report.pdf", "/huge")]
    slow = _item(site, "/slow")
    skipped = [
        _item(site, "/replayed", source="replay:theblock"),
        _item(site, "/has-body", body="Already the full text."),
    ]
    p = bus.producer()
    for ev in [tether, citadel, tether_again, *failing, slow, *skipped]:
        p.produce(settings.topic_news, encode(ev), key=ev.id.encode())
    p.produce(settings.topic_news, b"not json at all")
    p.flush()
    first_batch_end = 11

    log_path = tmp_path / "articles.log"
    with log_path.open("wb") as log:
        proc = spawn_articles_process(
            settings,
            *("--max-bytes", "20000", "--timeout", "1.5", "--delay", "0", "--retries", "0"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        tp = TopicPartition(settings.topic_news, 0)
        group = bus.consumer("articles")

        def done() -> bool:
            committed = group.committed(tp)
            return committed is not None and committed >= first_batch_end

        wait_for(done, 60, f"the article stage to finish its messages; log: {log_path}")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log_path.read_text()[-3000:]

    events = _bus_events(bus, settings)
    articles = {e.id: e for e in events if isinstance(e, NewsItem) and e.body}
    letters = [e for e in events if isinstance(e, DeadLetter) and e.stage == "article"]

    # full text extracted: the paragraphs, not the navigation, the advert or the footer
    body = articles[tether.id].body
    for para in TETHER:
        assert para in body
    for junk in (NAV, AD, FOOTER):
        assert junk not in body
    assert articles[tether.id].author == "RT Watson"
    assert articles[tether.id].published_at == tether.published_at  # the feed's time stays
    assert (articles[tether.id].source, articles[tether.id].url) == (tether.source, tether.url)
    # a feed item without a time takes the page's published time
    assert articles[citadel.id].author == "Sarah Wynn"
    assert articles[citadel.id].published_at == datetime(2025, 12, 12, 20, 23, 11, tzinfo=UTC)
    assert articles[citadel.id].time_estimated is False
    assert all(para in articles[citadel.id].body for para in CITADEL)

    # robots.txt obeyed, a clear User-Agent, each page fetched once, replayed items not at all
    paths = site.paths()
    assert "/robots.txt" in paths and "/private/draft" not in paths
    assert {ua for _, ua in site.requests} == {settings.user_agent}
    assert paths.count("/post/382433/tether-juventus") == 1
    assert "/replayed" not in paths and "/has-body" not in paths

    # every failure is a dead letter with its source and reason; the spider went on
    reason = {e.source.split()[-1].removeprefix(site.base): e.reason for e in letters}
    assert "robots.txt" in reason["/private/draft"]
    assert "HTTP 500" in reason["/broken"]
    assert "not HTML" in reason["/report.pdf"] and "application/pdf" in reason["/report.pdf"]
    assert "20000" in reason["/huge"]  # larger than the download max size
    assert "Timeout" in reason["/slow"] or "took longer" in reason["/slow"]
    assert all(e.source.startswith("theblock ") for e in letters)

    # the engine stores each article once, with the page's text and author
    drain_engine(settings, store, bus)
    with store.read() as conn:
        rows = {r.id: r for r in conn.execute(select(t.news))}
        errors = conn.execute(select(t.errors.c.stage, t.errors.c.reason)).all()
    assert len([i for i in rows if i == tether.id]) == 1
    row = rows[tether.id]
    assert row.source == "theblock" and row.author == "RT Watson" and TETHER[1] in row.body
    assert row.relevant is False  # Tether buying a football club is not about Bitcoin
    assert rows[citadel.id].time_estimated is False
    assert {s for s, _ in errors} >= {"article", "parse"}
    assert sum(1 for s, _ in errors if s == "article") == 5

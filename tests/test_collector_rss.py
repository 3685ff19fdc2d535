"""RSS/Atom parsing of real feeds: times, entities, ids, authors, and broken documents
(truncated, invalid XML, wrong encoding, HTML instead of a feed) recorded as dead letters."""

from __future__ import annotations

import re

import pytest
from conftest import FIXTURES, REPLAY

from btcpulse.collectors.news.feeds import parse_feed
from btcpulse.timeutil import utcnow

THEBLOCK = (FIXTURES / "theblock_rss_2025-12-12.xml").read_bytes()
COINDESK = (REPLAY / "coindesk_rss_2023-03-13.xml").read_bytes()
COINDESK_2026 = (FIXTURES / "coindesk_rss_2026-09-25_trimmed3.xml").read_bytes()


def test_real_feed_parses_with_times_entities_ids_and_authors() -> None:
    items, bad = parse_feed(THEBLOCK, source="theblock", fetched_at=utcnow())
    assert len(items) == 19 and not bad
    assert all(i.published_at.tzinfo is not None and not i.time_estimated for i in items)
    assert not any("&#8217;" in i.title for i in items)  # entities decoded
    assert len({i.id for i in items}) == 19
    assert items[0].author == "Daniel Kuhn" and all(i.author for i in items)


def test_the_current_coindesk_format_parses() -> None:
    items, bad = parse_feed(COINDESK_2026, source="coindesk", fetched_at=utcnow())
    assert len(items) == 3 and not bad
    assert items[0].author == "Oliver Knight" and items[0].url.startswith("https://www.coindesk")


def test_an_entry_without_a_date_takes_the_fetched_time_flagged() -> None:
    now = utcnow()
    body = re.sub(rb"<pubDate>[^<]*</pubDate>", b"", THEBLOCK)
    items, _ = parse_feed(body, source="theblock", fetched_at=now)
    assert len(items) == 19
    assert all(i.time_estimated and i.published_at == now for i in items)


def test_an_empty_dc_description_does_not_hide_the_description() -> None:
    body = (FIXTURES / "coindesk_rss_2025-12-13.xml").read_bytes()
    assert b"<dc:description/>" in body or b"<dc:description></dc:description>" in body
    items, _ = parse_feed(body, source="coindesk", fetched_at=utcnow())
    assert len(items) == 25 and all(i.summary for i in items)


@pytest.mark.parametrize(
    ("body", "n_items", "reason"),
    [
        # cut mid-document: the entries before the cut are kept, the damage is recorded
        (COINDESK[: len(COINDESK) // 3], 17, "malformed feed, 17 entries kept"),
        # declared UTF-8, served as windows-1252: decoded anyway, recorded
        (
            COINDESK.decode("utf-8").encode("cp1252", errors="replace"),
            50,
            "declared as utf-8, but parsed as windows-1252",
        ),
        (b"\x00\xff garbage \x89PNG", 0, "not well-formed"),
        (b"<!DOCTYPE html><html><body><h1>Hi</h1></body></html>", 0, "an HTML page"),
        (b"", 0, "empty body"),
    ],
)
def test_broken_documents_keep_what_they_can_and_say_why(
    body: bytes, n_items: int, reason: str
) -> None:
    items, bad = parse_feed(body, source="s", fetched_at=utcnow(), content_type="")
    assert len(items) == n_items
    assert len(bad) == 1 and reason in bad[0].reason and bad[0].source == "s"


def test_entries_without_a_link_or_title_are_dead_letters() -> None:
    body = THEBLOCK.replace(b"<title>", b"<title> ", 1)  # the channel title: harmless
    body = re.sub(rb"(<item>.*?)<link>[^<]*</link>", rb"\1", body, count=1, flags=re.S)
    items, bad = parse_feed(body, source="theblock", fetched_at=utcnow())
    assert len(items) == 18 and len(bad) == 1 and "without an http(s) link" in bad[0].reason


def test_tests_cannot_reach_a_public_host() -> None:
    """The fixtures name real outlets; the suite's guard refuses any non-local connection."""
    import socket

    with socket.socket() as s, pytest.raises(AssertionError, match="non-local host"):
        s.connect(("93.184.215.14", 80))

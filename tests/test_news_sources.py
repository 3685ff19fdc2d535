"""The news source registry (package YAML → user file → BTCPULSE_NEWS_FEEDS) and the per-kind
parsers (Reddit listing, HN Algolia, CryptoPanic v1) on fixtures in the real API shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES

from btcpulse.collectors.news.parsers import parse, parse_cryptopanic, parse_hn, parse_reddit
from btcpulse.collectors.news.registry import (
    RegistryError,
    Source,
    adhoc_source,
    guess_kind,
    load_sources,
    select_sources,
)
from btcpulse.config import Settings
from btcpulse.events import article_id, canonical_url
from btcpulse.timeutil import utcnow

REDDIT = (FIXTURES / "reddit_r_bitcoin_new.json").read_bytes()
HN = (FIXTURES / "hn_algolia_search_by_date_bitcoin.json").read_bytes()
PANIC = (FIXTURES / "cryptopanic_v1_posts_btc.json").read_bytes()
OUTLETS = {
    "coindesk",
    "cointelegraph",
    "decrypt",
    "bitcoinmagazine",
    "theblock",
    "cryptoslate",
    "bitcoincom",
    "newsbtc",
    "cryptopotato",
    "bitcoinist",
}


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None, **kw)  # type: ignore[call-arg, arg-type]


def test_the_packaged_registry_lists_the_outlets_reddit_hn_and_a_token_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BTCPULSE_CRYPTOPANIC_TOKEN", raising=False)
    sources = {s.name: s for s in load_sources(_settings(tmp_path))}
    rss = {n for n, s in sources.items() if s.kind == "rss" and s.active}
    assert OUTLETS <= rss
    assert all(sources[n].url.startswith("https://") for n in sources)
    assert sources["reddit-bitcoin"].kind == "reddit" and sources["reddit-bitcoin"].active
    assert sources["hackernews"].kind == "hn" and "query=bitcoin" in sources["hackernews"].url
    panic = sources["cryptopanic"]
    assert not panic.active and panic.off_reason == "no token: set BTCPULSE_CRYPTOPANIC_TOKEN"
    monkeypatch.setenv("BTCPULSE_CRYPTOPANIC_TOKEN", "t0k")
    assert panic.active and panic.token() == "t0k"


def test_user_file_and_env_feeds_override_the_package_in_that_order(tmp_path: Path) -> None:
    user = tmp_path / "sources.yaml"
    user.write_text(
        "sources:\n"
        "  - {name: coindesk, enabled: false}\n"
        "  - {name: hackernews, interval_s: 900}\n"
        "  - {name: decrypt, url: 'https://example.org/from-file.xml'}\n"
        "  - {name: myblog, kind: rss, url: 'https://example.org/blog.xml'}\n"
    )
    s = _settings(
        tmp_path,
        news_sources_file=user,
        news_feeds=["decrypt=https://example.org/from-env.xml", "extra=https://example.org/x"],
        news_poll_interval_s=45,
    )
    got = {x.name: x for x in load_sources(s)}
    assert not got["coindesk"].active and got["coindesk"].off_reason == "disabled"
    assert got["hackernews"].interval_s == 900 and got["hackernews"].kind == "hn"
    assert got["decrypt"].url == "https://example.org/from-env.xml"  # env beats file
    assert got["myblog"].interval_s == 45  # the default interval
    assert got["extra"].kind == "rss" and got["extra"].active
    # naming a disabled source asks for it
    assert select_sources(list(got.values()), ["coindesk"])[0].active
    with pytest.raises(RegistryError, match="unknown news source"):
        select_sources(list(got.values()), ["nope"])
    user.write_text("include_defaults: false\nsources:\n  - {name: only, url: 'https://e.org/f'}\n")
    assert [x.name for x in load_sources(_settings(tmp_path, news_sources_file=user))] == ["only"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("sources:\n  - {name: x, kind: gopher, url: 'https://e.org'}\n", "kind"),
        ("sources:\n  - {name: x, url: 'ftp://e.org/feed'}\n", "not an http"),
        ("sources:\n  - {url: 'https://e.org/feed'}\n", "needs a 'name'"),
        ("sources: [\n", "not valid YAML"),
        ("feeds: []\n", "unknown top-level"),
        ("sources:\n  - {name: 'replay:x', url: 'https://e.org'}\n", "name"),
    ],
)
def test_a_bad_user_file_is_refused_with_its_reason(tmp_path: Path, text: str, match: str) -> None:
    user = tmp_path / "bad.yaml"
    user.write_text(text)
    with pytest.raises(RegistryError, match=match):
        load_sources(_settings(tmp_path, news_sources_file=user))


def test_adhoc_feeds_guess_their_kind() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert adhoc_source("https://www.coindesk.com/arc/outboundfeeds/rss/", s).name == (
        "www.coindesk.com"
    )
    assert adhoc_source("cd=https://x.org/feed", s).name == "cd"
    assert guess_kind("https://www.reddit.com/r/Bitcoin/new.json?limit=100") == "reddit"
    assert guess_kind("https://hn.algolia.com/api/v1/search_by_date?query=bitcoin") == "hn"
    assert guess_kind("https://cryptopanic.com/api/v1/posts/?currencies=BTC") == "cryptopanic"
    assert guess_kind("https://www.reddit.com/r/Bitcoin/.rss") == "rss"


def test_reddit_listing_link_posts_take_the_article_id_text_posts_the_thread() -> None:
    now = utcnow()
    items, bad = parse_reddit(REDDIT, source="reddit-bitcoin", fetched_at=now)
    children = json.loads(REDDIT)["data"]["children"]
    assert len(items) == len(children) - 1 and len(bad) == 1
    assert "without a title" in bad[0].reason and "vpnotitle" in bad[0].payload
    by_title = {i.title: i for i in items}
    tblock = by_title["Crypto giant Tether offers to buy famous Italian football club Juventus"]
    assert "utm_" not in canonical_url(tblock.url)
    # the same article as in The Block's own feed: same id
    assert tblock.id == article_id(
        "https://www.theblock.co/post/382433/"
        "crypto-giant-tether-offers-to-buy-famous-italian-football-club-juventus?utm_source=rss"
    )
    self_post = next(i for i in items if "/comments/vpself/" in i.url)
    assert self_post.url.startswith("https://www.reddit.com/r/Bitcoin/comments/")
    assert self_post.summary and self_post.author == "fixture_user_self"
    assert all(i.published_at.tzinfo is not None and not i.time_estimated for i in items)
    assert all(i.author.startswith("fixture_user_") for i in items)
    assert len({i.id for i in items}) == len(items)


def test_hn_hits_link_to_the_story_url_or_the_item_page() -> None:
    now = utcnow()
    items, bad = parse_hn(HN, source="hackernews", fetched_at=now)
    hits = json.loads(HN)["hits"]
    assert len(items) == len(hits) - 1 and len(bad) == 1
    text = next(i for i in items if "news.ycombinator.com/item?id=31949990" in i.url)
    assert text.summary and "<p>" not in text.summary
    first = hits[0]
    assert items[0].published_at.timestamp() == first["created_at_i"]
    assert items[0].author == first["author"] and items[0].url == first["url"]


def test_cryptopanic_posts_parse_with_their_times() -> None:
    items, bad = parse_cryptopanic(PANIC, source="cryptopanic", fetched_at=utcnow())
    assert len(items) == 10 and not bad
    assert all(i.url.startswith("https://cryptopanic.com/news/") for i in items)
    assert items[0].published_at.isoformat().startswith("2022-")


def test_missing_times_fall_back_to_fetched_time_flagged() -> None:
    now = utcnow()
    doc = json.loads(HN)
    for h in doc["hits"]:
        h.pop("created_at_i", None)
        h.pop("created_at", None)
    items, _ = parse_hn(json.dumps(doc).encode(), source="hn", fetched_at=now)
    assert items and all(i.time_estimated and i.published_at == now for i in items)


@pytest.mark.parametrize("kind", ["reddit", "hn", "cryptopanic"])
@pytest.mark.parametrize(
    ("body", "ctype", "reason"),
    [
        (b"<!DOCTYPE html><html><body>Too Many Requests</body></html>", "text/html", "HTML page"),
        (b'{"data": {"children": [', "application/json", "invalid JSON"),
        (b"\xff\xfe\x00garbage", "application/json", "invalid JSON"),
        (b"", "application/json", "empty body"),
        (b'{"error": "Token not found"}', "application/json", "no '"),
    ],
)
def test_unusable_json_answers_are_dead_letters_with_a_reason(
    kind: str, body: bytes, ctype: str, reason: str
) -> None:
    items, bad = parse(kind, body, source="s", fetched_at=utcnow(), content_type=ctype)
    assert not items and len(bad) == 1 and reason in bad[0].reason


def test_source_names_are_checked() -> None:
    with pytest.raises(ValueError, match="reserved"):
        Source(name="replay-coindesk", url="https://e.org/f")

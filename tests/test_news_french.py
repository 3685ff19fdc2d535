"""French outlets end to end: the local feed server serves two French feeds (hand-written in
the outlets' WordPress RSS shape, see fixtures/PROVENANCE.md) and a real English one; the real
poller puts them on the bus with the registry's declared language, the real engine processes
them. French articles are tagged ``fr``, get topics and entities, and no sentiment: the API
says ``not_scored`` (never an English model's guess) and the index leaves them out, while the
English articles of the same run are scored and counted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from conftest import FIXTURES, drain_engine
from fastapi.testclient import TestClient
from news_server import NewsServer, news_server
from sqlalchemy import select

from btcpulse.analytics.entities import entities_for
from btcpulse.analytics.relevance import relevant
from btcpulse.analytics.sentiment import make_scorer
from btcpulse.analytics.topics import topics_for
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.collectors.news.poller import poll_sources_once
from btcpulse.collectors.news.registry import Source, load_sources
from btcpulse.config import Settings
from btcpulse.engines.reprocess import reenrich, stale_articles
from btcpulse.events import AnalyticsUpdate, NewsItem, Trade, encode, parse_event
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.store.upsert import upsert
from btcpulse.timeutil import utcnow
from btcpulse.web.app import create_app

FR = FIXTURES / "fr"
JDC = (FR / "journalducoin_rss_handwritten.xml").read_bytes()
CRYPTOAST = (FR / "cryptoast_rss_handwritten.xml").read_bytes()
COINDESK = (FIXTURES / "coindesk_rss_2025-12-13.xml").read_bytes()
DAY = datetime(2025, 12, 12, tzinfo=UTC)

# title → topics the French feed's article must get (a subset: other topics may join)
EXPECTED_TOPICS = {
    "Bitcoin : la SEC approuve de nouveaux ETF, afflux record chez BlackRock": {
        "etf_institutional",
        "regulation",
    },
    "MiCA : l\u2019AMF met en garde les plateformes d\u2019échange sans agrément PSAN": {
        "regulation",
        "exchanges",
    },
    "Le cours du bitcoin recule sous les 90 000 dollars après la décision de la Fed": {
        "market_price",
        "macro_monetary",
    },
    "Piratage : un exchange asiatique perd 30 millions de dollars en BTC": {
        "security_hacks",
        "exchanges",
    },
    "États-Unis : le fondateur d\u2019une plateforme crypto condamné à 5 ans de prison"
    " pour fraude": {"legal"},
    "Lightning Network : les développeurs publient une mise à jour majeure": {"technology"},
    "La BCE maintient ses taux, le bitcoin chute de 4 %": {"macro_monetary", "market_price"},
    "Paiements en bitcoin : de plus en plus de commerçants français l\u2019acceptent": {
        "adoption_payments"
    },
}
EXPECTED_ENTITIES = {
    "Le Salvador continue d\u2019acheter du bitcoin malgré l\u2019accord avec le FMI": {
        ("El Salvador", "country"),
        ("IMF", "institution"),
        ("Bitcoin", "coin"),
    },
    "La BCE maintient ses taux, le bitcoin chute de 4 %": {
        ("European Central Bank", "institution")
    },
    "Royaume-Uni : la FCA autorise les ETN Bitcoin pour les particuliers": {
        ("United Kingdom", "country"),
        ("FCA", "institution"),
    },
}


def _one(title: str) -> tuple[list[str], set[str], bool]:
    df = pl.DataFrame({"id": ["x"], "title": [title], "summary": [None]})
    topics = topics_for(df)["topics"][0].to_list()
    names = {e["name"] for e in entities_for(df)["entities"][0]}
    return topics, names, bool(relevant(df["title"], df["summary"])[0])


def test_french_keywords_ignore_accents_and_case_and_keep_word_boundaries() -> None:
    for title in (
        "Régulation : la France durcit le ton",
        "REGULATION : LA FRANCE DURCIT LE TON",
        "Re\u0301gulation : la France durcit le ton",  # decomposed accent
    ):
        topics, names, _ = _one(title)
        assert "regulation" in topics and "France" in names, title
    for title in ("Etats-Unis : un ETF", "ÉTATS-UNIS : UN ETF", "États-Unis : un ETF"):
        assert "United States" in _one(title)[1], title
    assert "legal" not in _one("Le bitcoin à court terme")[0]  # "court terme": not a court
    assert "market_price" not in _one("Au cours de la semaine, rien")[0]
    assert "regulation" not in _one("Le bitcoin loin de son record")[0]  # loi ≠ loin
    assert "mining_energy" in _one("Le taux de hachage grimpe")[0]
    assert "macro_monetary" not in _one("Le taux de hachage grimpe")[0]
    assert _one("Les cryptomonnaies reculent")[2]
    assert not _one("L\u2019euro numérique avance en Europe")[2]
    assert not _one("Ethereum : les jetons de staking s\u2019envolent")[2]


@pytest.fixture
def server() -> Iterator[NewsServer]:
    with news_server() as srv:
        yield srv


def _trades(settings: Settings, bus: EmbeddedLog) -> None:
    """A BTC-USD tape over the feeds' day, so that the engine derives the index there."""
    p = bus.producer()
    for k in range(0, 14 * 60, 5):
        at = DAY + timedelta(hours=10, minutes=k)
        tr = Trade(
            exchange="coinbase",
            symbol="BTC-USD",
            trade_id=str(k),
            price=f"{90_000 + 10 * (k % 7)}.00",
            size="0.5",
            side="buy",
            time=at,
        )
        p.produce(settings.topic_prices, encode(tr), timestamp_ms=int(at.timestamp() * 1000))
    p.flush()


def test_the_registry_declares_the_french_outlets(settings: Settings) -> None:
    sources = {s.name: s for s in load_sources(settings)}
    for name in ("journalducoin", "cryptoast", "cointribune", "cointelegraph-fr"):
        assert sources[name].lang == "fr" and sources[name].kind == "rss"
        assert sources[name].active
    assert sources["coindesk"].lang is None


def test_french_feeds_get_topics_and_entities_but_no_english_sentiment(
    settings: Settings, store: Store, bus: EmbeddedLog, server: NewsServer
) -> None:
    sources = [
        Source(name="journalducoin", url=server.add("/jdc", body=JDC), lang="fr"),
        Source(name="cryptoast", url=server.add("/ca", body=CRYPTOAST), lang="fr"),
        Source(name="coindesk", url=server.add("/cd", body=COINDESK)),
    ]
    outcomes = asyncio.run(poll_sources_once(sources, settings, bus.producer(), store))
    assert all(o.ok for o in outcomes) and sum(o.new for o in outcomes) == 10 + 4 + 25
    _trades(settings, bus)

    # on the bus: the French outlets' items carry their declared language
    c = bus.consumer("check-bus")
    c.subscribe([settings.topic_news])
    on_bus = [parse_event(m.value) for m in c.poll(0.5, 10_000)]
    langs = {(e.source, e.lang) for e in on_bus if isinstance(e, NewsItem)}
    assert langs == {("journalducoin", "fr"), ("cryptoast", "fr"), ("coindesk", "en")}

    drain_engine(settings, store, bus)

    with TestClient(create_app(settings)) as client:
        news = client.get("/api/v1/news", params={"limit": 500}).json()["items"]
    by_title = {n["title"]: n for n in news}
    french = [n for n in news if n["source"] in ("journalducoin", "cryptoast")]
    english = [n for n in news if n["source"] == "coindesk"]
    assert len(french) == 14 and len(english) == 25

    # French: tagged fr (one very short headline keeps its source's language), not scored
    fr = [n for n in french if n["lang"] == "fr"]
    assert len(fr) == 13
    assert by_title["BTC : 100 000 $"]["lang"] == "fr"  # too short to detect: declared
    for n in fr:
        assert n["sentiment"] is None and n["sentiment_label"] is None, n["title"]
        assert n["sentiment_status"] == "not_scored"
        assert n["relevant"] is True
    for title, topics in EXPECTED_TOPICS.items():
        assert topics <= set(by_title[title]["topics"]), (title, by_title[title]["topics"])
    for title, entities in EXPECTED_ENTITIES.items():
        got = {(e["name"], e["type"]) for e in by_title[title]["entities"]}
        assert entities <= got, (title, got)

    # an English headline in a French feed: detection overrides the declared language
    ibit = by_title["Bitcoin ETF inflows hit a record as BlackRock\u2019s IBIT leads the market"]
    assert ibit["lang"] == "en" and ibit["sentiment_status"] == "scored"
    # English articles of the same run are scored
    for n in english:
        assert n["lang"] == "en" and n["sentiment_status"] == "scored"
        assert isinstance(n["sentiment"], float) and n["sentiment_label"] in (
            "positive",
            "negative",
            "neutral",
        )

    # no enrichment row at all for the French articles; the live pushes say the same
    ids_fr = {n["id"] for n in fr}
    with store.read() as conn:
        rows = conn.execute(select(t.enrichments.c.news_id)).scalars().all()
        index = conn.execute(
            select(t.index_values.c.time, t.index_values.c.n_news).where(
                t.index_values.c.replay.is_(False)
            )
        ).all()
    assert not ids_fr & set(rows) and len(rows) == 26
    c = bus.consumer("check-updates")
    c.subscribe([settings.topic_updates])
    pushed = {
        u.key: u.data
        for m in c.poll(0.5, 100_000)
        if isinstance(u := parse_event(m.value), AnalyticsUpdate) and u.kind == "news"
    }
    for n in fr:
        data = pushed[f"news:{n['id']}"]
        assert data["sentiment"] is None and data["sentiment_status"] == "not_scored"
        assert data["lang"] == "fr" and data["topics"] == n["topics"]

    # the index counts the scored articles only: French ones are neither sentiment nor volume
    scored_at = sorted(
        int(datetime.fromisoformat(n["published_at"]).timestamp())
        for n in news
        if n["sentiment_status"] == "scored"
    )
    fr_at = [int(datetime.fromisoformat(n["published_at"]).timestamp()) for n in fr]
    assert index
    with_french = 0
    for time_s, n_news in index:
        assert n_news == sum(time_s - 3600 < s <= time_s for s in scored_at), time_s
        with_french += any(time_s - 3600 < s <= time_s for s in fr_at)
    assert with_french > 0  # French articles did fall in index windows


def test_reprocessing_removes_an_old_guess_and_then_leaves_french_articles_alone(
    settings: Settings, store: Store, bus: EmbeddedLog, server: NewsServer
) -> None:
    source = Source(name="journalducoin", url=server.add("/jdc", body=JDC), lang="fr")
    asyncio.run(poll_sources_once([source], settings, bus.producer(), store))
    drain_engine(settings, store, bus)
    scorer = make_scorer(settings.sentiment_model)
    lo, hi = DAY, DAY + timedelta(days=1)
    with store.read() as conn:
        assert stale_articles(conn, lo, hi, scorer.version, scorer.languages) == []
        some = conn.execute(select(t.news.c.id).where(t.news.c.lang == "fr")).scalars().first()
    assert some is not None
    with store.begin() as conn:  # a score an English model gave before languages counted
        row = {"sentiment": 0.4, "sentiment_label": "positive", "enriched_at": utcnow()}
        upsert(conn, t.enrichments, [{"news_id": some, "model_version": scorer.version, **row}])
    with store.read() as conn:
        assert stale_articles(conn, lo, hi, scorer.version, scorer.languages) == [some]
    with store.begin() as conn:
        reenrich(conn, [some], scorer)
    with store.read() as conn:
        assert conn.execute(select(t.enrichments)).all() == []
        assert stale_articles(conn, lo, hi, scorer.version, scorer.languages) == []


def test_spark_executors_do_not_score_french_headlines() -> None:
    """``enrich_arrow`` (run by ``mapInArrow`` on the executors) leaves French headlines
    without a score, as the driver's rule does; no Spark needed to call it."""
    pa = pytest.importorskip("pyarrow")
    from btcpulse.collectors.news.feeds import parse_feed
    from btcpulse.engines.spark.job import enrich_arrow

    fr, _ = parse_feed(JDC, source="journalducoin", fetched_at=utcnow())
    en, _ = parse_feed(COINDESK, source="coindesk", fetched_at=utcnow())
    items = [i.model_copy(update={"lang": "fr"}) for i in fr[:3]] + en[:2]
    values = [encode(i) for i in items] + [b"{broken"]
    n = len(values)
    batch = pa.RecordBatch.from_pydict(
        {"topic": ["news"] * n, "partition": [0] * n, "offset": list(range(n)), "value": values}
    )
    (out,) = list(enrich_arrow(iter([batch]), "default"))
    scores = out.column("sentiment").to_pylist()
    assert scores[:3] == [None, None, None] and scores[5] is None
    assert all(isinstance(s, float) for s in scores[3:5])
    assert out.column("kind").to_pylist() == ["news"] * 5 + ["deadletter"]

"""Topics and entities: examples, and properties over random batches."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from btcpulse.analytics.entities import ENTITIES_VERSION, entities_for
from btcpulse.analytics.topics import TOPICS, TOPICS_VERSION, fold_text, topics_for


def _topics(title: str, summary: str | None = None) -> list[str]:
    df = pl.DataFrame({"id": ["x"], "title": [title], "summary": [summary]})
    out: list[str] = topics_for(df)["topics"][0].to_list()
    return out


def _entities(title: str, summary: str | None = None) -> set[tuple[str, str]]:
    df = pl.DataFrame({"id": ["x"], "title": [title], "summary": [summary]})
    return {(e["name"], e["type"]) for e in entities_for(df)["entities"][0]}


def test_versions_and_names() -> None:
    assert TOPICS_VERSION and ENTITIES_VERSION
    assert len(TOPICS) == 10 and len(set(TOPICS)) == 10


def test_topic_examples() -> None:
    assert _topics("SEC approves spot Bitcoin ETF") == ["etf_institutional", "regulation"]
    assert _topics("Hackers drain $200M from exchange") == ["exchanges", "security_hacks"]
    assert _topics("La BCE relève ses taux") == ["macro_monetary"]
    assert _topics("Lucky solo bitcoin miner beats odds to win block reward") == ["mining_energy"]
    assert _topics("Lightning Network upgrade adds Taproot support") == ["technology"]
    assert _topics("Bitcoin plunges below $90K") == ["market_price"]
    assert _topics("El Salvador merchants accept bitcoin payments") == ["adoption_payments"]
    assert _topics("Do Kwon sentenced to prison after fraud trial") == ["legal"]
    assert _topics("Fed holds interest rates as inflation cools") == ["macro_monetary"]
    assert _topics("Le bitcoin piraté: la plateforme d'échange condamnée") == [
        "exchanges",
        "legal",
        "security_hacks",
    ]
    assert _topics("Nothing to see here", None) == []


def test_topic_word_boundaries_and_exchange_senses() -> None:
    assert "mining_energy" not in _topics("Determining the outcome")
    assert "exchanges" not in _topics(
        "Securities and Exchange Commission weighs exchange-traded fund"
    )
    assert "exchanges" not in _topics("Foreign exchange reserves grow")
    assert "exchanges" in _topics("Crypto exchange Kraken lists new token")
    assert "regulation" in _topics("The Securities and Exchange Commission sues a firm")
    # the summary counts too
    assert _topics("Tether news", "The firm was hacked") == ["security_hacks"]


def test_fold_text_lowers_strips_accents_and_glues_phrases() -> None:
    texts = [
        "À COURT TERME, les ÉTATS-UNIS",
        "E\u0301tats-Unis: re\u0301gulation",  # decomposed accents
        "Taux de hachage record; court-terme",
        "Plain ASCII Headline, Nothing To Fold",
        "Bitcoin\u2019s “rally”",  # non-ASCII but nothing to fold
        None,
        "",
    ]
    folded = pl.DataFrame({"t": texts}).select(fold_text(pl.col("t")))["t"].to_list()
    assert folded == [
        "a court_terme, les etats-unis",
        "etats-unis: regulation",
        "hashrate record; court_terme",
        "plain ascii headline, nothing to fold",
        "bitcoin\u2019s “rally”",
        None,
        "",
    ]


def test_exchange_venue_senses() -> None:
    assert "exchanges" in _topics("Exchange commission fines an exchange")
    assert "exchanges" not in _topics("Exchange commission and foreign exchange desks")
    assert "exchanges" in _topics("exchange", "foreign exchange")
    assert "exchanges" not in _topics("Exchanged views", "an exchange-traded note")


def test_entity_examples() -> None:
    found = _entities("Michael Saylor\u2019s Strategy buys more BTC as Powell speaks")
    assert found == {
        ("Michael Saylor", "person"),
        ("Strategy", "company"),
        ("Bitcoin", "coin"),
        ("Jerome Powell", "person"),
    }
    found = _entities("Binance.US and Coinbase: CZ and SBF in the U.S.", "ETH and SOL rally")
    assert ("Binance.US", "exchange") in found and ("Binance", "exchange") not in found
    assert {("Changpeng Zhao", "person"), ("Sam Bankman-Fried", "person")} <= found
    assert {("United States", "country"), ("Ethereum", "coin"), ("Solana", "coin")} <= found
    assert _entities("L'Union européenne et le Salvador") == {
        ("European Union", "country"),
        ("El Salvador", "country"),
    }
    # case matters for ambiguous short aliases
    assert _entities("let us go solo and eat") == set()
    assert _entities("Tether and Circle issue USDT and USDC") == {
        ("Tether", "company"),
        ("Circle", "company"),
        ("USDT", "coin"),
        ("USDC", "coin"),
    }


def test_empty_batch() -> None:
    empty = pl.DataFrame(schema={"id": pl.String, "title": pl.String, "summary": pl.String})
    assert topics_for(empty).schema == {"id": pl.String, "topics": pl.List(pl.String)}
    assert entities_for(empty).height == 0
    assert entities_for(empty).columns == ["id", "entities"]


_WORDS = [
    "SEC", "ETF", "bitcoin", "hack", "Coinbase", "miners", "Fed", "taux", "Lightning", "price",
    "rally", "court", "U.S.", "China", "Saylor", "Tether", "USDT", "exchange", "the", "é",
    "\u2019s", "$100K", "Binance.US", "CZ", "paiement", "-", ":", "\n",
]  # fmt: skip
_text = st.lists(st.sampled_from(_WORDS) | st.text(max_size=8), max_size=12).map(" ".join)
_batch = st.lists(st.tuples(_text, st.none() | _text), max_size=25).map(
    lambda rows: pl.DataFrame(
        {
            "id": [f"id{i}" for i in range(len(rows))],
            "title": [r[0] for r in rows],
            "summary": [r[1] for r in rows],
        },
        schema={"id": pl.String, "title": pl.String, "summary": pl.String},
    )
)


@settings(max_examples=60, deadline=None)
@given(_batch, st.randoms(use_true_random=False))
def test_properties(batch: pl.DataFrame, rnd: object) -> None:
    topics = topics_for(batch)
    entities = entities_for(batch)
    assert topics["id"].to_list() == batch["id"].to_list()
    assert entities["id"].to_list() == batch["id"].to_list()
    for labels in topics["topics"].to_list():
        assert labels == sorted(set(labels)) and set(labels) <= set(TOPICS)
    for ents in entities["entities"].to_list():
        keys = [(e["name"], e["type"]) for e in ents]
        assert keys == sorted(set(keys))
    # row order does not change any row's labels
    shuffled = batch.sample(fraction=1.0, shuffle=True, seed=len(batch))
    assert dict(topics_for(shuffled).iter_rows()) == dict(topics.iter_rows())
    by_id = {i: str(e) for i, e in entities.iter_rows()}
    assert {i: str(e) for i, e in entities_for(shuffled).iter_rows()} == by_id

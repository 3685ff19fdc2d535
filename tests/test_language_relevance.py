"""Language detection (parity with py3langid, real headlines) and the Bitcoin relevance rule
on real headlines from the committed feeds."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import FIXTURES

from btcpulse.analytics.language import CANDIDATES, _encode, classify, detect_language
from btcpulse.analytics.relevance import relevant
from btcpulse.collectors.news.feeds import parse_feed
from btcpulse.timeutil import utcnow


def _fixture_items() -> list[tuple[str, str]]:
    out = []
    for path in sorted(FIXTURES.glob("*.xml")):
        items, _ = parse_feed(path.read_bytes(), source=path.stem, fetched_at=utcnow())
        out += [(i.title, i.summary) for i in items]
    return out


OTHER_LANGUAGES = {
    "fr": "Le bitcoin recule sous les 90 000 dollars après la décision de la Réserve fédérale",
    "de": "Bitcoin fällt nach der Zinsentscheidung der US-Notenbank unter 90.000 Dollar",
    "es": "El bitcoin cae por debajo de los 90.000 dólares tras la decisión de la Reserva Federal",
    "ja": "ビットコイン価格が急落、米連邦準備制度理事会の決定を受けて",
    "zh": "比特币价格在美联储决定后跌破九万美元",
}


def test_detection_matches_py3langid_exactly() -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(CANDIDATES))
    texts = [f"{t}. {s}" for t, s in _fixture_items()] + list(OTHER_LANGUAGES.values())
    labels, conf = classify(texts)
    for text, lab, c in zip(texts, labels, conf.tolist(), strict=True):
        ref_lab, ref_conf = ident.classify(_encode(text))
        assert (lab, c) == (ref_lab, pytest.approx(ref_conf, abs=1e-4))


def test_real_english_headlines_and_other_languages() -> None:
    items = _fixture_items()
    text = pl.Series([f"{t}. {s}" for t, s in items])
    assert set(detect_language(text).to_list()) == {"en"}
    langs = detect_language(pl.Series(list(OTHER_LANGUAGES.values())))
    assert langs.to_list() == list(OTHER_LANGUAGES)


def test_unsure_or_empty_text_keeps_the_declared_language() -> None:
    out = detect_language(pl.Series(["", "BTC", None]), pl.Series(["fr", "de", None]))
    assert out.to_list() == ["fr", "de", "en"]


@pytest.mark.parametrize(
    ("title", "summary", "expected"),
    [
        # real headlines from tests/fixtures (CoinDesk 2025-12-12/13, The Block 2025-12-12)
        ("Bitcoin Plunges Below $90K as AI Worries Drag Nasdaq, Crypto Stocks Down", "", True),
        ("Most Influential: Michael Saylor", "", True),
        ("Polish Government Urges President to Sign Crypto Bill He Already Rejected", "", True),
        ("Interactive Brokers Now Accepts Stablecoins in a Bid to Remain Competitive", "", False),
        ("Hedera Tumbles 4% as Altcoins Continue to Suffer", "", False),
        ("Crypto giant Tether offers to buy famous Italian football club Juventus", "", False),
        ("DOT Sinks 2% After Breaking Key Support", "", False),
        (
            "Fogo cancels $20 million pre-sale, will airdrop tokens instead in upcoming mainnet"
            " launch",
            "Fogo will airdrop the tokens set aside for a pre-sale next week.",
            False,
        ),
        # real headlines from ../shared/data/news/crypto_news_plus_2021-10_2022-07.csv
        ("Weekend Massacre: Over $500M Liquidated as BTC Dumps to $27K", "", True),
        ("Argentina U-Turns On Crypto Tax With New Regulation", "", True),
        ("Solana suffers 7th outage in 2022 as bots invade the network", "", False),
        ("NFT collectors sent $37B to marketplaces in 2022", "", False),
        ("US Inflation for May Hits 8.6%, Above Analysts' Expectations", "", False),
        # constructed edge cases
        ("Bitcoin Cash rallies 12% as BCH leads", "", False),
        ("Bitcoin and Bitcoin Cash diverge", "", True),
        ("Lightning Network capacity hits a record", "", True),
        ("Crypto market nears $2 trillion again", "", True),
    ],
)
def test_relevance_rule(title: str, summary: str, expected: bool) -> None:
    assert relevant(pl.Series([title]), pl.Series([summary])).to_list() == [expected]


def test_relevance_on_the_committed_feeds_is_vectorised_and_null_safe() -> None:
    items = _fixture_items()
    flags = relevant(pl.Series([t for t, _ in items]), pl.Series([s for _, s in items]))
    assert flags.len() == len(items) and flags.dtype == pl.Boolean
    assert 0 < flags.sum() < len(items)
    assert (
        relevant(pl.Series([None], dtype=pl.String), pl.Series([None], dtype=pl.String))[0] is False
    )

"""Multi-label topics for headlines: a curated taxonomy of keyword regular expressions.

Every topic is a list of keywords (English first, French where it is cheap) compiled into one
alternation and matched with word boundaries against the lower-cased ``title + summary``. The
whole batch is matched with polars string operations, one pass per topic; no Python loop runs
per row.

Choices, so that a reader can predict a label:

- Keywords are stems or enumerated inflections (``hack(?:s|ed|ers?|ing)?``), never bare
  prefixes, so ``mining`` does not fire on ``determining``.
- Boundaries are ASCII word boundaries (seven times faster than Unicode ones in the regex
  engine). A keyword that starts with an accented letter gets ``(?:^|\\W)`` in front instead;
  one that ends with an accented letter gets no trailing boundary.
- Before matching, ``exchange-traded`` becomes ``etf``, ``securities and exchange
  commission`` becomes ``sec`` and ``foreign exchange`` becomes ``forex``, so that ``exchanges``
  means trading venues only.
- A headline may have no topic at all; topics are not exclusive (an ETF approval by the SEC is
  both ``regulation`` and ``etf_institutional``).

Bump ``TOPICS_VERSION`` whenever a keyword changes: stored topics carry the version that made
them.
"""

from __future__ import annotations

import polars as pl

TOPICS_VERSION = "kw-2025.12-1"

# Display order. The ``topics`` lists are sorted alphabetically.
TOPIC_KEYWORDS: dict[str, tuple[str, ...]] = {
    "regulation": (
        r"regulat(?:ion|ions|or|ors|ory|e|es|ed|ing)",
        "sec",
        "cftc",
        "occ",
        "fca",
        "esma",
        "mica",
        "finma",
        "amf",
        "fsa",
        "legislation",
        "legislators?",
        "lawmakers?",
        "congress",
        "senate",
        "senators?",
        r"bills?",
        r"(?:genius|clarity|fit21) act",
        "stablecoin act",
        r"licen[cs](?:e|es|ed|ing)",
        r"charters?",
        r"bans?",
        "banned",
        "crackdown",
        "compliance",
        "aml",
        "kyc",
        "sanction(?:s|ed)?",
        r"tax(?:es|ation)?",
        "policymakers?",
        "no-action letter",
        "watchdog",
        r"supervisor(?:s|y)?",
        # French
        "réglementation",
        r"régulat(?:eur|eurs|ion)",
        "législation",
        "loi",
        "projet de loi",
        "autorité des marchés financiers",
        "interdiction",
        "encadrement",
        "fiscalité",
        r"impôts?",
        "parlement",
        "sénat",
    ),
    "etf_institutional": (
        r"etfs?",
        r"etps?",
        "spot bitcoin fund",
        "institutional",
        "institutions",
        r"asset managers?",
        r"hedge funds?",
        r"pension funds?",
        "wall street",
        "blackrock",
        "fidelity",
        "grayscale",
        "gbtc",
        "ibit",
        "vanguard",
        "vaneck",
        "invesco",
        "ark invest",
        r"treasury (?:company|companies|firms?)",
        "corporate treasury",
        "microstrategy",
        r"inflows?",
        r"outflows?",
        "family offices?",
        r"banks? (?:custody|custodian)",
        "fonds négociés? en bourse",
        r"institutionnel(?:s|le|les)?",
        "gestionnaires? d'actifs",
    ),
    "adoption_payments": (
        r"adopt(?:ion|s|ed|ing)?",
        r"payments?",
        "pay",
        r"payouts?",
        "paid",
        r"accept(?:s|ed|ing)? (?:bitcoin|crypto|stablecoins?|btc)",
        r"merchants?",
        r"remittances?",
        "legal tender",
        "paypal",
        "visa",
        "mastercard",
        "stripe",
        "pyusd",
        r"point[- ]of[- ]sale",
        r"atms?",
        "cross-border",
        r"donations?",
        r"paiements?",
        "adoption",
        "cours légal",
        r"commerçants?",
    ),
    "security_hacks": (
        r"hack(?:s|ed|er|ers|ing)?",
        r"exploit(?:s|ed)?",
        r"breach(?:es|ed)?",
        "stolen",
        "theft",
        r"steal(?:s|ing)?",
        r"drain(?:s|ed|ing|er)?",
        "phishing",
        r"scam(?:s|mer|mers)?",
        "rug ?pull",
        "ransomware",
        r"vulnerabilit(?:y|ies)",
        "heist",
        r"attack(?:s|er|ers)?",
        "compromised",
        "malware",
        "lazarus",
        r"bug bount(?:y|ies)",
        "piratage",
        r"pirat\w*",
        "escroquerie",
        r"arnaques?",
        r"failles?",
        r"cyberattaques?",
    ),
    "mining_energy": (
        r"miners?",
        "mining",
        r"hash ?rate",
        r"hash ?power",
        "mining difficulty",
        "halving",
        r"asics?",
        "energy",
        "electricity",
        r"power grid",
        "renewable",
        "carbon",
        "emissions",
        "bitmain",
        "block reward",
        "proof[- ]of[- ]work",
        "minage",
        r"mineurs?",
        r"énergie",
        r"électricité",
    ),
    "macro_monetary": (
        "fed",
        "federal reserve",
        "fomc",
        "powell",
        r"interest rates?",
        r"rate (?:cut|hike)s?",
        "inflation",
        "cpi",
        "ppi",
        "recession",
        "gdp",
        "jobs report",
        "payrolls",
        "unemployment",
        r"treasury yields?",
        r"bond yields?",
        "dollar index",
        "dxy",
        r"central banks?",
        "ecb",
        "boj",
        "bank of england",
        "bank of japan",
        "monetary policy",
        "quantitative (?:easing|tightening)",
        r"tariffs?",
        r"cbdcs?",
        "bce",
        r"taux",
        "banque centrale",
        "récession",
        "politique monétaire",
        "réserve fédérale",
        "chômage",
        "pib",
        "droits de douane",
    ),
    "technology": (
        "lightning",
        "taproot",
        r"ordinals?",
        r"inscriptions?",
        "brc-20",
        r"runes?",
        r"(?:soft|hard) ?forks?",
        r"upgrades?",
        "layer[- ]?2",
        r"l2s?",
        r"rollups?",
        r"sidechains?",
        "mainnet",
        "testnet",
        r"bips?",
        "open[- ]source",
        r"developers?",
        r"nodes?",
        "zero[- ]knowledge",
        r"zk(?:-?proofs?)?",
        r"smart contracts?",
        r"bridges?",
        "interoperability",
        r"oracles?",
        "firedancer",
        "segwit",
        "schnorr",
        "mempool",
        r"protocols?",
        r"codebase",
        "couche 2",
        r"mises? à jour",
        r"développeurs?",
        r"protocoles?",
    ),
    "market_price": (
        r"prices?",
        r"rall(?:y|ies|ied|ying)",
        r"surg(?:e|es|ed|ing)",
        r"soar(?:s|ed|ing)?",
        r"jump(?:s|ed)?",
        r"plung(?:e|es|ed|ing)",
        r"tumbl(?:e|es|ed|ing)",
        r"crash(?:es|ed)?",
        r"slump(?:s|ed)?",
        r"drop(?:s|ped)?",
        r"sinks?",
        "sank",
        r"dips?",
        r"rebound(?:s|ed)?",
        r"sell-?offs?",
        r"bull(?:ish|s)?",
        r"bear(?:ish|s)?",
        "all-time high",
        r"ath",
        "resistance",
        r"(?:key )?support levels?",
        "key support",
        r"volatil(?:e|ity)",
        r"liquidations?",
        "market cap",
        "trading volume",
        r"gains?",
        r"\$\d[\d,.]*k",
        r"underperform(?:s|ed)?",
        r"outperform(?:s|ed)?",
        "prix",
        "hausse",
        "baisse",
        r"chutes?",
        "flambée",
        "rebond",
        "volatilité",
        "recul",
    ),
    "exchanges": (
        r"exchanges?",
        "coinbase",
        "binance",
        "kraken",
        "bitstamp",
        "okx",
        "bybit",
        "gemini",
        "ftx",
        "bitfinex",
        "kucoin",
        "huobi",
        "htx",
        r"crypto\.com",
        r"gate\.io",
        "bithumb",
        "upbit",
        "bitget",
        "mexc",
        "deribit",
        r"dexs?",
        r"cexs?",
        r"(?:de)?listings?",
        r"delist(?:s|ed|ing)?",
        "trading platforms?",
        "plateformes? d'échange",
    ),
    "legal": (
        r"lawsuits?",
        r"sue(?:s|d)?",
        "suing",
        r"courts?",
        r"judges?",
        "jury",
        r"trials?",
        "verdict",
        r"convict(?:ed|ion)",
        r"sentenc(?:ed|ing)",
        "prison",
        "jail(?:ed)?",
        r"arrest(?:s|ed)?",
        r"charged",
        r"indict(?:ed|ment|ments)",
        r"plead(?:s|ed)? guilty",
        "guilty",
        r"settle(?:s|d)? with",
        r"(?:reach(?:es|ed)?|agree(?:s|d)?) (?:a |to )?settlement",
        "class action",
        "fraud",
        "doj",
        "department of justice",
        r"prosecutors?",
        r"subpoena(?:s|ed)?",
        "enforcement",
        "wells notice",
        r"extradit(?:ed|ion)",
        "bankruptcy",
        "procès",
        r"tribunal",
        r"juges?",
        r"poursuites?",
        "plainte",
        r"condamn\w*",
        "arrestation",
        "fraude",
        r"inculpé\w*",
    ),
}
TOPICS: tuple[str, ...] = tuple(TOPIC_KEYWORDS)

_ASCII_B = "(?-u:\\b)"
_REWRITES: tuple[tuple[str, str], ...] = (
    ("exchange-traded", "etf"),
    ("securities and exchange commission", "sec"),
    ("foreign exchange", "forex"),
    ("\u2019", "'"),
)


def _is_ascii_word(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def keyword_pattern(keywords: tuple[str, ...]) -> str:
    """One alternation with word boundaries that suit each keyword's first and last letter."""
    parts = []
    for kw in keywords:
        head = kw.lstrip("(?:\\")[:1]
        tail = kw.rstrip("?)*+")[-1:]
        lead = _ASCII_B if _is_ascii_word(head) else ("(?:^|\\W)" if head.isalpha() else "")
        trail = _ASCII_B if _is_ascii_word(tail) else ""
        parts.append(f"{lead}(?:{kw}){trail}")
    return "|".join(parts)


TOPIC_PATTERNS: dict[str, str] = {t: keyword_pattern(kws) for t, kws in TOPIC_KEYWORDS.items()}


def topic_text(title: pl.Expr, summary: pl.Expr) -> pl.Expr:
    """The lower-cased, rewritten text the topic patterns run on."""
    text = (title.fill_null("") + " \n " + summary.fill_null("")).str.to_lowercase()
    for old, new in _REWRITES:
        text = text.str.replace_all(old, new, literal=True)
    return text


def topics_for(df: pl.DataFrame) -> pl.DataFrame:
    """``id, title, summary`` → ``id, topics`` (alphabetically sorted, distinct, maybe empty)."""
    text = pl.col("_text")
    flags = [pl.when(text.str.contains(TOPIC_PATTERNS[t])).then(pl.lit(t)) for t in sorted(TOPICS)]
    summary = pl.col("summary") if "summary" in df.columns else pl.lit(None, dtype=pl.String)
    return (
        df.lazy()
        .select("id", topic_text(pl.col("title"), summary).alias("_text"))
        .select("id", pl.concat_list(flags).list.drop_nulls().alias("topics"))
        .collect()
        .cast({"topics": pl.List(pl.String)})
    )

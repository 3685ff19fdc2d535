"""Multi-label topics for headlines: a curated taxonomy of keyword regular expressions.

Each topic is a list of keywords (English first, French where it is cheap), compiled into one
alternation and matched with word boundaries against the lower-cased ``title + summary``. A
batch is matched with polars string operations, one pass per topic, never a Python loop per row.

Choices, so that a reader can predict a label:

- Keywords are whole words or enumerated inflections (``hack(?:s|ed|ers?|ing)?``), never bare
  prefixes, so ``mining`` does not fire on ``determining``. Multi-word keywords are phrases.
- Boundaries are ASCII word boundaries (the regex engine runs them about seven times faster than
  Unicode ones). A keyword that starts with a non-ASCII letter (after folding, below) gets
  ``(?:^|\\W)`` in front; one that ends with one gets no trailing boundary.
- French keywords are written with their accents and match with or without them (capitals
  often lose theirs: "REGULATION", "Etats-Unis"): the text is lower-cased and its accents
  removed in one Aho-Corasick pass (composed or decomposed letters alike), the keywords are
  folded the same way, and every boundary is then an ASCII one.
- French phrases that are common outside the topic stay out ("au cours de" is "during": only
  "cours du bitcoin" is a price).
- ``exchanges`` means trading venues: a bare "exchange" counts unless it belongs to
  "exchange-traded", "Securities and Exchange Commission" or "foreign exchange".
- Topics are not exclusive (the SEC approving an ETF is ``regulation`` and
  ``etf_institutional``); a headline may have none. ``market_price`` is about price moves, not
  about amounts of money.
- ``legal`` is courts, lawsuits, charges, arrests and enforcement; ``regulation`` is rules,
  regulators, legislation, licences and tax. An SEC lawsuit is both.

Bump ``TOPICS_VERSION`` whenever a keyword changes: stored topics carry the version that made
them.
"""

from __future__ import annotations

import polars as pl

TOPICS_VERSION = "kw-2026.12-fr1"

# Keywords separated by ";" (regular expressions, lower case). Display order of the topics.
_TAXONOMY: dict[str, str] = {
    "regulation": r"""
        regulat(?:ion|ions|or|ors|ory|e|es|ed|ing); sec; securities and exchange commission;
        cftc; occ; fca; esma; mica; finma; amf; fsa; legislation; legislators?; lawmakers?;
        congress; senate; senators?; bills?;
        (?:genius|clarity|fit21) act; stablecoin act; licen[cs](?:e|es|ed|ing); charters?;
        bans?; banned; crackdown; compliance; aml; kyc; sanction(?:s|ed)?; tax(?:es|ation)?;
        policymakers?; no-action letter; watchdog; supervisor(?:s|y)?;
        réglementation; réglementations; réglementaires?; régulat(?:eur|eurs|ion|ions);
        régulé(?:e|s|es)?; législation; législateurs?; loi; lois; projet de loi;
        autorité des marchés financiers; interdiction; interdit(?:e|s|es)?; encadrement;
        fiscalité; impôts?; taxes?; parlement; sénat; députés?; sénateurs?; conformité;
        agréments?; enregistrement psan; psan; casp; blanchiment; gendarme financier""",
    "etf_institutional": r"""
        etfs?; etps?; exchange-traded; spot bitcoin fund; institutional; institutions;
        asset managers?; hedge funds?; pension funds?; wall street; blackrock; fidelity;
        grayscale; gbtc; ibit; vanguard; vaneck; invesco; ark invest;
        treasury (?:company|companies|firms?); corporate treasury; microstrategy; inflows?;
        outflows?; family offices?; fonds négociés? en bourse; institutionnel(?:s|le|les)?;
        gestionnaires? d['\x{2019}]actifs; afflux; sorties de capitaux; fonds spot;
        trésorerie d['\x{2019}]entreprise; fonds de pension""",
    "adoption_payments": r"""
        adopt(?:ion|s|ed|ing)?; payments?; pay; payouts?; paid;
        accept(?:s|ed|ing)? (?:bitcoin|crypto|stablecoins?|btc); merchants?; remittances?;
        legal tender; paypal; visa; mastercard; stripe; pyusd; point[- ]of[- ]sale; atms?;
        cross-border; donations?; paiements?; adoption; cours légal; monnaie légale;
        commerçants?; payer; payé(?:e|s|es)?; transferts? d['\x{2019}]argent;
        distributeurs? (?:automatiques? )?de bitcoins?;
        accept(?:e|ent|er|é|ée)s? (?:le |les |des )?(?:bitcoin|btc|cryptos?|cryptomonnaies?)""",
    "security_hacks": r"""
        hack(?:s|ed|er|ers|ing)?; exploit(?:s|ed)?; breach(?:es|ed)?; stolen; theft;
        steal(?:s|ing)?; drain(?:s|ed|ing|er)?; phishing; scam(?:s|mer|mers)?; rug ?pull;
        ransomware; vulnerabilit(?:y|ies); heist; attack(?:s|er|ers)?; compromised; malware;
        lazarus; bug bount(?:y|ies); piratage; pirat\w*; escroquerie; escroqueries; arnaques?;
        failles?; cyberattaques?; attaques?; vulnérabilités?; volés?; volées?;
        dérobé(?:e|s|es)?; siphonné(?:e|s|es)?; hameçonnage; rançongiciels?;
        logiciels? malveillants?""",
    "mining_energy": r"""
        miners?; mining; hash ?rate; hash ?power; halving; asics?; energy; electricity;
        power grid; renewable; carbon; emissions; bitmain; block reward; proof[- ]of[- ]work;
        minage; mineurs?; énergie; énergétiques?; électricité; renouvelables?; carbone;
        puissance de calcul; preuve de travail; récompense de bloc""",
    "macro_monetary": r"""
        fed; federal reserve; fomc; powell; interest rates?; rate (?:cut|hike)s?; inflation;
        cpi; ppi; recession; gdp; jobs report; payrolls; unemployment; treasury yields?;
        bond yields?; dollar index; dxy; central banks?; ecb; boj; bank of england;
        bank of japan; monetary policy; quantitative (?:easing|tightening); tariffs?; cbdcs?;
        bce; taux; banques? centrales?; récession; politique monétaire; réserve fédérale;
        chômage; pib; droits de douane; tarifs douaniers; rendements? obligataires?;
        banque de france; banque du japon; banque d['\x{2019}]angleterre; indice des prix;
        assouplissement quantitatif; resserrement monétaire""",
    "technology": r"""
        lightning; taproot; ordinals?; inscriptions?; brc-20; runes?; (?:soft|hard) ?forks?;
        upgrades?; layer[- ]?2; l2s?; rollups?; sidechains?; mainnet; testnet; bips?;
        open[- ]source; developers?; nodes?; zero[- ]knowledge; zk(?:-?proofs?)?;
        smart contracts?; bridges?; interoperability; oracles?; firedancer; segwit; schnorr;
        mempool; protocols?; codebase; couche 2; mises? à jour; mises? à niveau;
        développeurs?; protocoles?; nœuds?; contrats? intelligents?; code source;
        chaînes? latérales?; réseau principal; divulgation nulle de connaissance""",
    "market_price": r"""
        prices?; rall(?:y|ies|ied|ying); surg(?:e|es|ed|ing); soar(?:s|ed|ing)?;
        jump(?:s|ed)?; plung(?:e|es|ed|ing); tumbl(?:e|es|ed|ing); crash(?:es|ed)?;
        slump(?:s|ed)?; drop(?:s|ped)?; sinks?; sank; dips?; rebound(?:s|ed)?; sell-?offs?;
        bull(?:ish|s)?; bear(?:ish|s)?; all-time high; ath; resistance;
        (?:key )?support levels?; key support; volatil(?:e|ity); liquidations?; market cap;
        trading volume; gains?; \$\d[\d,.]*k; underperform(?:s|ed)?; outperform(?:s|ed)?;
        prix; hausse; baisse; chutes?; chute(?:nt)?; flambée; rebond; rebondit; volatilité;
        recul; recule(?:nt)?; cours du (?:bitcoin|btc); cours des cryptos?;
        haussi(?:er|ers|ère|ères); baissi(?:er|ers|ère|ères); grimpe(?:nt)?; bondit;
        s['\x{2019}]envole(?:nt)?; envolée; dégringol(?:e|ent|ade); plonge(?:nt)?;
        plongeon; s['\x{2019}]effondre(?:nt)?; effondrement; krach; repli; se replie;
        corrections?; sommet historique; record historique; plus haut historique; plus bas;
        capitalisation""",
    "exchanges": r"""
        coinbase; binance; kraken; bitstamp; okx; bybit; gemini; ftx; bitfinex; kucoin;
        huobi; htx; crypto\.com; gate\.io; bithumb; upbit; bitget; mexc; deribit; dexs?;
        cexs?; (?:de)?listings?; delist(?:s|ed|ing)?; trading platforms?;
        plateformes? d['\x{2019}]échanges?; plateformes? de trading; plateformes? crypto;
        bourses? crypto; bourses? de cryptomonnaies?""",
    "legal": r"""
        lawsuits?; sue(?:s|d)?; suing; courts?; judges?; jury; trials?; verdict;
        convict(?:ed|ion); sentenc(?:ed|ing); prison; jail(?:ed)?; arrest(?:s|ed)?; charged;
        indict(?:ed|ment|ments); plead(?:s|ed)? guilty; guilty; settle(?:s|d)? with;
        (?:reach(?:es|ed)?|agree(?:s|d)?) (?:a |to )?settlement; class action; fraud; doj;
        department of justice; prosecutors?; subpoena(?:s|ed)?; enforcement; wells notice;
        extradit(?:ed|ion); bankruptcy; procès; tribunal; tribunaux; juges?; poursuites?;
        poursuivi(?:e|s|es)?; plaintes?; condamn\w*; arrestation; arrêté(?:e|s|es)?; fraude;
        inculpé\w*; justice; procureurs?; mis en examen; enquêtes?; amendes?; faillite;
        cour suprême; cour d['\x{2019}]appel; recours collectif; action collective;
        saisies?; perquisitions?; escrocs?""",
}
TOPIC_KEYWORDS: dict[str, tuple[str, ...]] = {
    t: tuple(k.strip() for k in kws.split(";") if k.strip()) for t, kws in _TAXONOMY.items()
}
TOPICS: tuple[str, ...] = tuple(_TAXONOMY)

_ASCII_B = "(?-u:\\b)"
# "exchange" alone is a venue, except in these phrases (counted and subtracted: the regex
# engine has no look-ahead).
_NOT_VENUE = ("exchange commission", "foreign exchange")
_BARE_EXCHANGE = _ASCII_B + r"exchanges?(?:[^-\w]|$)"


def _is_ascii_word(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


# Accented letters (lower case) → the letters they are written as without their accents;
# combining marks (decomposed text) → nothing.
_BASE = {
    **dict.fromkeys("àâä", "a"),
    **dict.fromkeys("éèêë", "e"),
    **dict.fromkeys("îï", "i"),
    **dict.fromkeys("ôö", "o"),
    **dict.fromkeys("ùûü", "u"),
    "ç": "c",
    "ÿ": "y",
    "œ": "oe",
    "æ": "ae",
}
_MARKS = dict.fromkeys("\u0300\u0301\u0302\u0308\u0327", "")
_FOLD = {**_BASE, **_MARKS}
# French phrases glued into one token in the same pass, so that an English keyword inside
# them does not fire ("à court terme" is "short-term", not a court).
_GLUE = {
    "court terme": "court_terme",
    "court-terme": "court_terme",
    "taux de hachage": "hashrate",  # hash rate (mining), not an interest rate
}


def strip_accents(text: str) -> str:
    """``text`` without the accents :func:`fold_text` removes."""
    return "".join(_FOLD.get(c, c) for c in text)


def fold_text(text: pl.Expr) -> pl.Expr:
    """Lower case, accents removed (one Aho-Corasick pass): what keyword patterns run on."""
    fold = {**_FOLD, **_GLUE}
    return text.str.to_lowercase().str.replace_many(list(fold), list(fold.values()))


def keyword_pattern(keywords: tuple[str, ...]) -> str:
    """One alternation with word boundaries that suit each keyword's first and last letter.
    Keywords are folded like the text (:func:`fold_text`): accents are written for the reader
    and match with or without them."""
    parts = []
    for raw in keywords:
        kw = strip_accents(raw)
        head = kw.lstrip("(?:\\")[:1]
        tail = kw.rstrip("?)*+")[-1:]
        lead = _ASCII_B if _is_ascii_word(head) else ("(?:^|\\W)" if head.isalpha() else "")
        trail = _ASCII_B if _is_ascii_word(tail) else ""
        parts.append(f"{lead}(?:{kw}){trail}")
    return "|".join(parts)


TOPIC_PATTERNS: dict[str, str] = {t: keyword_pattern(kws) for t, kws in TOPIC_KEYWORDS.items()}


def topic_text(title: pl.Expr, summary: pl.Expr) -> pl.Expr:
    """The folded text (lower case, no accents) the topic patterns run on."""
    return fold_text(title.fill_null("") + " \n " + summary.fill_null(""))


def _has_topic(text: pl.Expr, topic: str) -> pl.Expr:
    hit = text.str.contains(TOPIC_PATTERNS[topic])
    if topic == "exchanges":
        bare = text.str.count_matches(_BARE_EXCHANGE)
        for phrase in _NOT_VENUE:
            bare = bare - text.str.count_matches(phrase, literal=True)
        hit = hit | (bare > 0)
    return hit


_ORDER = sorted(TOPICS)
# Every combination of topics, as a bit mask → its sorted list (1,024 rows, built once).
_MASKS = pl.DataFrame(
    {
        "_mask": pl.Series(range(1 << len(_ORDER)), dtype=pl.UInt32),
        "topics": pl.Series(
            [[t for i, t in enumerate(_ORDER) if m >> i & 1] for m in range(1 << len(_ORDER))],
            dtype=pl.List(pl.String),
        ),
    }
)


def topics_for(df: pl.DataFrame) -> pl.DataFrame:
    """``id, title, summary`` → ``id, topics`` (alphabetically sorted, distinct, maybe empty).

    ``summary`` may be missing or null. One output row per input row, in input order.
    """
    summary = pl.col("summary") if "summary" in df.columns else pl.lit(None, dtype=pl.String)
    text = pl.col("_text")
    mask = pl.sum_horizontal(
        [_has_topic(text, t).cast(pl.UInt32) * (1 << i) for i, t in enumerate(_ORDER)]
    ).cast(pl.UInt32)
    return (
        df.lazy()
        .select("id", topic_text(pl.col("title"), summary).alias("_text"))
        .select("id", mask.alias("_mask"))
        .join(_MASKS.lazy(), on="_mask", how="left", maintain_order="left")
        .select("id", "topics")
        .collect()
    )

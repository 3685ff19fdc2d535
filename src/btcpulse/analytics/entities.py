"""Named entities in headlines, from a curated gazetteer: exchanges, companies, people,
countries and coins, each with aliases that map to one canonical name.

Matching is two regular expressions over the whole batch (polars ``extract_all``): one over the
lower-cased text for names that are unambiguous in any case ("coinbase", "el salvador"), one
over the original text for short or ambiguous aliases that only count in a given case ("US",
"SOL", "CZ", "Circle", "Strategy (MSTR)"). Aliases are literal, with ASCII word boundaries, the
longest first, so "Changpeng Zhao" wins over "Zhao" and "Binance.US" over "Binance".

One alias may name several entities ("Saylor's Strategy" → Michael Saylor and Strategy), and
one entity has one type (Tether is a company; its coin is USDT). Ambiguities kept on purpose:
"Gemini" is the exchange, "Trump" the person. Bump ``ENTITIES_VERSION`` when the gazetteer
changes.

French headlines: names in French are aliases of the same entities ("États-Unis" is the United
States, "BCE" the European Central Bank). The any-case expression runs over the text folded as
for topics (lower case, accents removed: :func:`btcpulse.analytics.topics.fold_text`), its
aliases folded alike, so "Etats-Unis" and "ÉTATS-UNIS" are found too. Institutions (central
banks, regulators, justice departments) are their own type.
"""

from __future__ import annotations

import polars as pl

from btcpulse.analytics.topics import fold_text, strip_accents

ENTITIES_VERSION = "gaz-2026.12-fr1"
ENTITY_TYPES = ("coin", "company", "country", "exchange", "institution", "person")

# canonical name: aliases. Lower-case aliases match in any case; an alias with an upper-case
# letter matches only as written. "|" separates aliases.
_GAZETTEER: dict[str, dict[str, str]] = {
    "exchange": {
        "Coinbase": "coinbase",
        "Binance": "binance",
        "Binance.US": "binance.us|binance us",
        "Kraken": "kraken",
        "Bitstamp": "bitstamp",
        "OKX": "okx|okex",
        "Bybit": "bybit",
        "Gemini": "Gemini",
        "FTX": "ftx",
        "Bitfinex": "bitfinex",
        "KuCoin": "kucoin",
        "HTX": "huobi|htx",
        "Crypto.com": "crypto.com",
        "Gate.io": "gate.io",
        "Bithumb": "bithumb",
        "Upbit": "upbit",
        "Bitget": "bitget",
        "MEXC": "mexc",
        "Deribit": "deribit",
        "CME Group": "CME|cme group|chicago mercantile exchange",
        "Bullish": "Bullish Global|Bullish exchange",
        "Uniswap": "uniswap",
        "Hyperliquid": "hyperliquid",
        "dYdX": "dydx",
        "Robinhood": "robinhood",
    },
    "company": {
        "Strategy": "microstrategy|MSTR|Strategy Inc|Strategy (MSTR)|saylor's strategy"
        "|michael saylor's strategy",
        "BlackRock": "blackrock",
        "Fidelity": "fidelity investments|Fidelity",
        "Tesla": "tesla",
        "Tether": "tether",
        "Circle": "Circle|circle internet",
        "Grayscale": "grayscale",
        "Ripple": "Ripple|ripple labs",
        "PayPal": "paypal",
        "Visa": "Visa",
        "Mastercard": "mastercard",
        "Stripe": "Stripe",
        "Galaxy Digital": "galaxy digital",
        "ARK Invest": "ark invest|cathie wood's ark",
        "VanEck": "vaneck",
        "Invesco": "invesco",
        "Franklin Templeton": "franklin templeton",
        "JPMorgan": "jpmorgan|jp morgan|j.p. morgan",
        "Goldman Sachs": "goldman sachs|goldman",
        "Morgan Stanley": "morgan stanley",
        "Citadel Securities": "citadel securities|Citadel",
        "Marathon Digital": "marathon digital|MARA",
        "Riot Platforms": "riot platforms|riot blockchain",
        "Bitmain": "bitmain",
        "Paxos": "paxos",
        "BitGo": "bitgo",
        "Anchorage Digital": "anchorage digital|Anchorage",
        "DTCC": "dtcc|depository trust & clearing",
        "Nvidia": "nvidia",
        "Meta": "Meta|facebook",
        "Google": "google|alphabet",
        "YouTube": "youtube",
        "Kalshi": "kalshi",
        "Polymarket": "polymarket",
        "Phantom": "Phantom",
        "Interactive Brokers": "interactive brokers",
        "Moody's": "moody's",
        "Trump Media": "trump media",
        "Terraform Labs": "terraform labs|terraform",
        "Celsius": "Celsius|celsius network",
    },
    "person": {
        "Michael Saylor": "michael saylor|saylor|saylor's strategy|michael saylor's strategy",
        "Jerome Powell": "jerome powell|powell",
        "Gary Gensler": "gary gensler|gensler",
        "Paul Atkins": "paul atkins|Atkins",
        "Donald Trump": "donald trump|trump",
        "Elon Musk": "elon musk|musk",
        "Changpeng Zhao": "changpeng zhao|changpeng|CZ",
        "Sam Bankman-Fried": "sam bankman-fried|bankman-fried|SBF",
        "Satoshi Nakamoto": "satoshi nakamoto|nakamoto|Satoshi",
        "Vitalik Buterin": "vitalik buterin|vitalik|buterin",
        "Cathie Wood": "cathie wood|cathie wood's ark",
        "Larry Fink": "larry fink",
        "Brian Armstrong": "brian armstrong",
        "Jack Dorsey": "jack dorsey|dorsey",
        "Do Kwon": "do kwon",
        "Justin Sun": "justin sun",
        "Nayib Bukele": "nayib bukele|bukele",
        "Christine Lagarde": "christine lagarde|lagarde",
        "Janet Yellen": "janet yellen|yellen",
        "Scott Bessent": "scott bessent|bessent",
        "Richard Teng": "richard teng",
        "Paolo Ardoino": "paolo ardoino|ardoino",
        "Jeremy Allaire": "jeremy allaire|allaire",
        "Brad Garlinghouse": "brad garlinghouse|garlinghouse",
        "Hester Peirce": "hester peirce",
        "Elizabeth Warren": "elizabeth warren",
        "Tom Lee": "tom lee",
        "Arthur Hayes": "arthur hayes",
    },
    "country": {
        "United States": "united states|U.S.|US|USA|U.S.A.|america|états-unis"
        "|américain|américaine|américains|américaines",
        "China": "china|chinese|chine|chinois|chinoise|chinoises",
        "El Salvador": "el salvador|salvador|salvadoran|salvadorien|salvadorienne",
        "European Union": "european union|EU|E.U.|union européenne|UE",
        "United Kingdom": "united kingdom|UK|U.K.|britain|british|royaume-uni|britannique"
        "|britanniques|grande-bretagne",
        "Japan": "japan|japanese|japon|japonais|japonaise",
        "South Korea": "south korea|korea|korean|corée du sud|corée|coréen|coréenne",
        "India": "india|indian|inde",
        "Russia": "russia|russian|russie|russe|russes",
        "Hong Kong": "hong kong",
        "Singapore": "singapore|singapour",
        "United Arab Emirates": "united arab emirates|UAE|dubai|abu dhabi|émirats arabes unis"
        "|EAU|dubaï",
        "Switzerland": "switzerland|swiss|suisse",
        "Germany": "germany|german|allemagne|allemand|allemande",
        "France": "france|french|français|française|françaises",
        "Pakistan": "pakistan",
        "Brazil": "brazil|brazilian|brésil|brésilien|brésilienne",
        "Argentina": "argentina|argentine|argentin",
        "Canada": "canada|canadian|canadien|canadienne",
        "Australia": "australia|australian|australie|australien|australienne",
        "Turkey": "turkey|turkish|turquie",
        "Nigeria": "nigeria",
        "Poland": "poland|polish|pologne|polonais|polonaise",
        "Italy": "italy|italian|italie|italien|italienne",
        "Saudi Arabia": "saudi arabia|saudi|arabie saoudite",
        "Ukraine": "ukraine|ukrainian|ukrainien|ukrainienne",
    },
    "institution": {
        "SEC": "SEC|securities and exchange commission",
        "CFTC": "cftc",
        "Federal Reserve": "federal reserve|Fed|FOMC|réserve fédérale",
        "European Central Bank": "european central bank|ECB|BCE|banque centrale européenne",
        "AMF": "AMF|autorité des marchés financiers",
        "ESMA": "esma",
        "FCA": "FCA|financial conduct authority",
        "IMF": "IMF|international monetary fund|FMI|fonds monétaire international",
        "European Commission": "european commission|commission européenne",
        "Banque de France": "banque de france|bank of france",
        "Bank of England": "bank of england|banque d'angleterre",
        "Bank of Japan": "bank of japan|BOJ|banque du japon",
        "People's Bank of China": "people's bank of china|PBOC|PBoC|banque populaire de chine",
        "US Department of Justice": "department of justice|justice department|DOJ",
    },
    "coin": {
        "Bitcoin": "bitcoin|btc|bitcoins",
        "Ethereum": "ethereum|ether|ETH",
        "USDT": "usdt",
        "USDC": "usdc",
        "Solana": "solana|SOL",
        "XRP": "xrp",
        "BNB": "bnb",
        "Dogecoin": "dogecoin|DOGE",
        "Cardano": "cardano|ADA",
        "Polkadot": "polkadot|DOT",
        "Avalanche": "avalanche|AVAX",
        "Litecoin": "litecoin|LTC",
        "Tron": "Tron|TRX",
        "Chainlink": "chainlink|LINK",
        "Toncoin": "toncoin|TON",
        "Sui": "SUI|Sui",
        "Hedera": "hedera|HBAR",
        "Filecoin": "filecoin|FIL",
        "PYUSD": "pyusd",
        "RLUSD": "rlusd",
        "Shiba Inu": "shiba inu|SHIB",
        "Terra (LUNA)": "LUNA|terra luna|terrausd|UST",
    },
}

_B = "(?-u:\\b)"
_META = set(".()[]{}|*+?^$\\&-#")


def _rows() -> list[tuple[str, bool, str, str]]:
    """(alias key, case-sensitive?, canonical name, type) for every alias; any-case aliases
    folded like the text they are matched in (lower case, no accents)."""
    rows: dict[tuple[str, bool, str, str], None] = {}
    for etype, names in _GAZETTEER.items():
        for name, aliases in names.items():
            for alias in aliases.split("|"):
                sensitive = alias != alias.lower()
                key = alias if sensitive else strip_accents(alias.lower())
                rows[(key, sensitive, name, etype)] = None
    return list(rows)


def _pattern(aliases: set[str]) -> str:
    def bounded(alias: str) -> str:
        head = _B if alias[0].isalnum() else ""
        tail = _B if alias[-1].isalnum() else ""
        escaped = "".join("\\" + c if c in _META else c for c in alias)
        return head + escaped.replace("'", "['\u2019]") + tail

    return "|".join(bounded(a) for a in sorted(aliases, key=lambda a: (-len(a), a)))


_ROWS = _rows()
ALIASES = pl.DataFrame(
    {
        "_alias": [r[0] for r in _ROWS],
        "name": [r[2] for r in _ROWS],
        "type": [r[3] for r in _ROWS],
    }
)
_PATTERN_ANY_CASE = _pattern({r[0] for r in _ROWS if not r[1]})
_PATTERN_AS_WRITTEN = _pattern({r[0] for r in _ROWS if r[1]})
ENTITY_DTYPE = pl.List(pl.Struct({"name": pl.String, "type": pl.String}))


def entities_for(df: pl.DataFrame) -> pl.DataFrame:
    """``id, title, summary`` → ``id, entities`` (list of ``{name, type}``, sorted, distinct).

    ``summary`` may be missing or null. One output row per input row, in input order.
    """
    summary = pl.col("summary") if "summary" in df.columns else pl.lit(None, dtype=pl.String)
    text = pl.col("title").fill_null("") + " \n " + summary.fill_null("")
    found = (
        df.lazy()
        .select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
            pl.concat_list(
                fold_text(text).str.extract_all(_PATTERN_ANY_CASE),
                text.str.extract_all(_PATTERN_AS_WRITTEN),
            ).alias("_alias"),
        )
        .explode("_alias")
        .drop_nulls("_alias")
        .with_columns(pl.col("_alias").str.replace_all("\u2019", "'", literal=True))
        .join(ALIASES.lazy(), on="_alias", how="inner")
        .unique(["_row", "name", "type"])
        .sort(["_row", "name", "type"])
        .group_by("_row", maintain_order=True)
        .agg(pl.struct("name", "type").alias("entities"))
    )
    rows = pl.LazyFrame({"id": df["id"]}).with_row_index("_row")
    return (
        rows.join(found, on="_row", how="left", maintain_order="left")
        .select("id", pl.col("entities").fill_null(pl.lit([], dtype=ENTITY_DTYPE)))
        .collect()
        .cast({"entities": ENTITY_DTYPE})
    )

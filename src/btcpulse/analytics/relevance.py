"""Is a headline about Bitcoin? One vectorised keyword rule over ``title + summary``.

The rule, so that a reader can predict the flag:

- **Relevant** when the title or the summary names Bitcoin itself: *bitcoin* (any case, plural,
  hashtags), *BTC* / *XBT* / *₿* (also in pairs such as BTC-USD), *Satoshi* / *Nakamoto* /
  *sats*, the Lightning Network, the halving, Taproot, Ordinals / BRC-20, Bitcoin-only
  companies and products (MicroStrategy and Saylor, Blockstream, the spot bitcoin ETF tickers
  IBIT, GBTC, FBTC, BITB, ARKB), or Bitcoin's hash rate.
- **Also relevant** when it is about crypto at large (*crypto*, *cryptocurrencies*, *digital
  assets*, *the crypto market*: markets, industry, regulation, tax) and names no other subject:
  a market-wide or regulatory piece moves Bitcoin too.
- **Not relevant** when it is about another chain, coin or sector without naming Bitcoin
  (Ethereum, Solana, XRP, ..., stablecoins and their issuers, NFTs, DeFi, DAOs, the metaverse,
  tokens, airdrops, CBDCs), or not about crypto at all. Other chains that carry Bitcoin's name
  (Bitcoin Cash, Bitcoin SV, Bitcoin Gold, ...) are not Bitcoin.
- French headlines follow the same rule with the French words (*cryptomonnaies*, *actifs
  numériques*, *réseau Lightning*; *jetons*, *finance décentralisée*, *euro numérique* as
  other subjects); accents and case do not matter (the text is folded as for topics).
- Only the title and the summary are read, never the full article body: every article of a
  crypto outlet names Bitcoin somewhere (in a price box if nothing else).

Measured against the ``subject`` column of ``../shared/data/news/crypto_news_plus_*.csv`` (7,524
headlines, three outlets; that column is the outlet's section, not a label of this rule): 90 %
of the ``bitcoin`` section is flagged (the rest: exchanges, people, general tech), 3 % of
``nft``, 16 % of ``defi``, 21 % of ``blockchain``, 26 % of ``ethereum`` and 40 % of ``altcoin``
(mostly market wraps that name Bitcoin first: "Bitcoin and Ethereum Consolidate, SOL Rallies").
Bump :data:`RELEVANCE_VERSION` with the rule.
"""

from __future__ import annotations

import polars as pl

from btcpulse.analytics.topics import fold_text, keyword_pattern

RELEVANCE_VERSION = "btc-kw-2"

_BITCOIN = (
    r"bitcoin(?:s|ers?)?",
    r"btc",
    r"xbt",
    r"₿",
    r"satoshis?",
    r"nakamoto",
    r"sats",
    r"lightning network",
    r"lightning labs",
    r"réseau lightning",
    r"halving(?:s)?",
    r"halvening",
    r"taproot",
    r"ordinals?",
    r"brc-20",
    r"microstrategy",
    r"saylor",
    r"blockstream",
    r"ibit",
    r"gbtc",
    r"fbtc",
    r"bitb",
    r"arkb",
    r"hash ?rate",
)
# Crypto at large (markets, industry, regulation, tax) counts unless the headline is about
# another chain, coin or sector.
_CRYPTO_AT_LARGE = (
    r"crypto",
    r"cryptos",
    r"cryptocurrenc(?:y|ies)",
    r"crypto-?assets?",
    r"digital assets?",
    r"crypto (?:market|markets|industry|exchanges?|tax|taxes|regulation|prices?)",
    r"cryptomonnaies?",
    r"crypto-?monnaies?",
    r"crypto-actifs?",
    r"actifs? numériques?",
    r"marchés? crypto",
)
# Coin tickers that are also English words (SOL, DOT, NEAR, ATOM, TON, ADA) are left out.
_OTHER_SUBJECT = (
    r"ethereum",
    r"ether",
    r"eth",
    r"solana",
    r"xrp",
    r"ripple",
    r"cardano",
    r"dogecoin",
    r"doge",
    r"shiba inu",
    r"shib",
    r"polkadot",
    r"avalanche",
    r"avax",
    r"bnb",
    r"tron",
    r"trx",
    r"litecoin",
    r"ltc",
    r"polygon",
    r"matic",
    r"chainlink",
    r"monero",
    r"xmr",
    r"cosmos",
    r"terra",
    r"luna",
    r"tezos",
    r"algorand",
    r"stellar",
    r"xlm",
    r"uniswap",
    r"aave",
    r"pepe",
    r"toncoin",
    r"nfts?",
    r"defi",
    r"dao",
    r"metaverse",
    r"web3",
    r"altcoins?",
    r"memecoins?",
    r"meme coins?",
    r"tokens?",
    r"airdrops?",
    r"play-to-earn",
    r"gamefi",
    r"cbdcs?",
    r"stablecoins?",
    r"tether",
    r"usdt",
    r"usdc",
    r"pyusd",
    r"digital (?:yen|euro|yuan|dollar|pound|won|rupee|ruble|rouble)",
    r"e-cny",
    r"jetons?",
    r"finance décentralisée",
    r"(?:euro|yuan|dollar|yen|rouble|roupie|livre) numérique",
    r"mnbc",
)
# Other coins with Bitcoin's name: blanked out before matching (the regex engine has no
# look-ahead), so "Bitcoin Cash rallies" is not about Bitcoin but "Bitcoin and Bitcoin Cash" is.
_FORKS = (
    r"bitcoin (?:cash|sv|satoshi vision|gold|diamond|private|2x)",
    r"btc (?:cash)",
)

BITCOIN_PATTERN = keyword_pattern(_BITCOIN)
CRYPTO_PATTERN = keyword_pattern(_CRYPTO_AT_LARGE)
OTHER_PATTERN = keyword_pattern(_OTHER_SUBJECT)
FORK_PATTERN = keyword_pattern(_FORKS)


def relevance_text(title: pl.Expr, summary: pl.Expr) -> pl.Expr:
    """Folded ``title + summary`` (lower case, no accents) with Bitcoin's namesake forks
    blanked out."""
    text = fold_text(title.fill_null("") + " \n " + summary.fill_null(""))
    return text.str.replace_all(FORK_PATTERN, " ")


def _is_relevant_text(raw: pl.Series) -> pl.Series:
    folded = fold_text(pl.col("t")).str.replace_all(FORK_PATTERN, " ")  # relevance_text
    text = raw.to_frame("t").select(folded)["t"]
    at_large = text.str.contains(CRYPTO_PATTERN) & ~text.str.contains(OTHER_PATTERN)
    return text.str.contains(BITCOIN_PATTERN) | at_large


def is_relevant(title: pl.Expr, summary: pl.Expr) -> pl.Expr:
    """Boolean expression: does the headline name Bitcoin (see the module's rule)?

    The text is folded once and the three patterns run on it, also in an eager
    ``DataFrame.select`` (which does not share common subexpressions)."""
    raw = title.fill_null("") + " \n " + summary.fill_null("")
    return raw.map_batches(_is_relevant_text, return_dtype=pl.Boolean, is_elementwise=True)


def relevant(title: pl.Series, summary: pl.Series) -> pl.Series:
    """The rule over two aligned Series; one boolean per row, named ``relevant``."""
    df = pl.DataFrame({"title": title, "summary": summary})
    return df.select(is_relevant(pl.col("title"), pl.col("summary")).alias("relevant"))["relevant"]

"""What the sentiment model reads of a headline: its normalised text, tokens and feature names.

Shared by training (``model/train.py``) and scoring (:mod:`btcpulse.analytics.sentiment_model`),
so the two always cut text the same way: one polars pass gives a batch's tokens
(:func:`token_lists`); :func:`features` names every feature of one headline (word and
character n-grams with a crypto/general domain copy). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from itertools import pairwise

import polars as pl

_TRANSLATE = str.maketrans(
    {
        # cp1252 bytes read as latin-1 (as in some corpora) and their Unicode forms
        "\x91": "'",
        "\x92": "'",
        "\x93": '"',
        "\x94": '"',
        "\x96": "-",
        "\x97": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
    }
)
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|0|[$%€£!?+-]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
CRYPTO_WORDS = frozenset(
    """bitcoin bitcoins btc crypto cryptocurrency cryptocurrencies ethereum eth ether blockchain
    nft nfts defi token tokens stablecoin stablecoins altcoin altcoins coinbase binance tether
    usdt usdc dogecoin doge solana sol xrp ripple cardano ada polygon matic litecoin dao
    dex mining miners miner satoshi lightning metaverse ftx kraken bitfinex coin coins""".split()
)


def normalise(text: str) -> str:
    """The text form both training and scoring see (quotes and dashes unified, spaces collapsed)."""
    return " ".join(unicodedata.normalize("NFKC", text.translate(_TRANSLATE)).split())


def in_holdout(text: str) -> bool:
    """Whether a labelled text is in the 20% hold-out that training never sees (by sha256 of the
    normalised, lower-cased text)."""
    h = hashlib.sha256(normalise(text).lower().encode("utf-8")).hexdigest()
    return int(h[:8], 16) % 5 == 0


_FROM = [chr(c) for c in _TRANSLATE]
_TO = [str(v) for v in _TRANSLATE.values()]


@cache
def token_expr() -> pl.Expr:
    """The tokens of column ``t`` (built once: building it costs more than running it on a
    short batch)."""
    return (
        pl.col("t")
        .fill_null("")
        .str.replace_many(_FROM, _TO)
        .str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all(_NUMBER.pattern, "0")
        .str.extract_all(_TOKEN.pattern)
    )


def token_lists(texts: Sequence[str]) -> pl.Series:
    """The tokens of every text (a ``list[str]`` series), cut in one vectorised pass: quotes and
    dashes unified, NFKC, lower case, every number as ``0``, then words, ``0`` and the symbols
    ``$ % € £ ! ? + -``. Training and scoring both cut text here, so they always agree."""
    frame = pl.DataFrame({"t": list(texts)}, schema={"t": pl.String})
    return frame.select(token_expr())["t"]


def tokens(text: str) -> list[str]:
    """The tokens of one text (see :func:`token_lists`)."""
    out: list[str] = token_lists([text]).to_list()[0]
    return out


def domain(toks: Sequence[str]) -> str:
    """``"c"`` when a headline names crypto, else ``"g"`` (general finance)."""
    return "c" if any(t in CRYPTO_WORDS for t in toks) else "g"


def local_features(tok: str, dom: str) -> list[str]:
    """Features that depend on one token only: the word, its domain copy, character 3-5-grams."""
    feats = [tok, dom + ":" + tok]
    if len(tok) >= 3:
        w = "<" + tok + ">"
        n = len(w)
        for k in (3, 4, 5):
            feats.extend("#" + w[i : i + k] for i in range(n - k + 1))
    return feats


def context_features(toks: Sequence[str], dom: str) -> list[str]:
    """The domain bias and word bigrams (with sentence boundaries), plain and domain copies."""
    padded = ["<s>", *toks, "</s>"]
    bigrams = [a + " " + b for a, b in pairwise(padded)]
    prefix = dom + ":"
    return ["_bias_" + dom, *bigrams, *[prefix + bg for bg in bigrams]]


def features(text: str) -> list[str]:
    """All feature names of one headline (a bag: repeats count). Training uses this; scoring
    computes the same sums faster (token-local features are pre-summed per known token)."""
    toks = tokens(text)
    dom = domain(toks)
    feats = context_features(toks, dom)
    for t in toks:
        feats.extend(local_features(t, dom))
    return feats

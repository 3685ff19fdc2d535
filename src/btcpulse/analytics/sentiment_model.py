"""Fast headline sentiment: a linear model over word and character n-grams.

The model is trained offline by ``make model`` (``model/train.py``): gold labels from the
financial and crypto sets in ``../shared/data/sentiment`` plus soft labels from a fine-tuned
transformer teacher on unlabelled crypto headlines. At run time it is only a table of weights:
each headline is cut into features (below), their weight rows are summed, and a softmax over
negative / neutral / positive gives class probabilities, mapped to a score in [-1, 1] whose
``label_for`` band is the predicted class.

The artifact lives in ``btcpulse/analytics/models/`` and is read once, when the scorer is
constructed; scoring does no I/O. It carries the licence terms of its training data
(``models/LICENSE-DATA.md``): non-commercial, research use.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from importlib import resources
from itertools import pairwise
from typing import Any

import numpy as np

from btcpulse.analytics.sentiment import NEUTRAL_BAND, label_for

MODEL_VERSION = "crypto-lin-1"
"""Version of the bundled model; the artifact is ``models/sentiment-<version>.npz``."""

CLASSES = ("negative", "neutral", "positive")

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
_CRYPTO = frozenset(
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


def tokens(text: str) -> list[str]:
    """Lower-cased words, numbers (all as ``0``) and the symbols ``$ % € £ ! ? + -``."""
    text = unicodedata.normalize("NFKC", text.translate(_TRANSLATE)).lower()
    return _TOKEN.findall(_NUMBER.sub("0", text))


def domain(toks: Sequence[str]) -> str:
    """``"c"`` when a headline names crypto, else ``"g"`` (general finance)."""
    return "c" if any(t in _CRYPTO for t in toks) else "g"


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


class _Index(dict[str, int]):
    """Feature name → weight row; unknown names map to the all-zero row."""

    missing = 0

    def __missing__(self, key: str) -> int:
        return self.missing


class _TokenRows(dict[str, int]):
    """Token → its pre-summed row for one domain; unseen tokens get a row on first use."""

    def __init__(self, model: LinearSentimentModel, dom: str, known: dict[str, int]) -> None:
        super().__init__(known)
        self._model = model
        self._dom = dom

    def __missing__(self, tok: str) -> int:
        row = self._model._token_row(tok, self._dom)
        self[tok] = row
        return row


class LinearSentimentModel:
    """Implements :class:`btcpulse.analytics.sentiment.SentimentScorer`.

    ``scores`` returns a signed confidence in [-1, 1] (see :func:`margin_scores`) such that
    ``label_for(score)`` (band ±0.05) is always the model's argmax class.
    """

    languages: tuple[str, ...] = ("en",)
    """Trained on English headlines only: other languages are not scored."""

    def __init__(self, version: str = MODEL_VERSION, *, data: bytes | None = None) -> None:
        self.version = version
        if data is None:
            ref = resources.files("btcpulse.analytics").joinpath(f"models/sentiment-{version}.npz")
            data = ref.read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta: dict[str, Any] = json.loads(bytes(z["meta"]).decode("utf-8"))
            names = bytes(z["names"]).decode("utf-8").split("\n")
            weights = np.asarray(z["weights"], dtype=np.float64) * float(z["scale"])
        index = _Index((n, i) for i, n in enumerate(names))
        index.missing = len(names)  # an all-zero row, appended below
        self._index = index
        self.meta = meta
        # Pre-sum the token-local features (word, domain copy, character n-grams) of every word
        # the model knows, per domain: a known word then costs one row instead of ~30. Words
        # first seen while scoring get a row on the fly (up to DYNAMIC_ROWS, then reset).
        words = [n for n in names if n and ":" not in n and " " not in n and n[0] != "#"]
        base = len(names) + 1
        table = np.zeros((base + 2 * len(words) + self.DYNAMIC_ROWS, weights.shape[1]))
        table[: len(names)] = weights
        self._weights = table
        self._known: dict[str, dict[str, int]] = {"c": {}, "g": {}}
        self._next = base
        for dom in ("c", "g"):
            for w in words:
                row = self._token_row(w, dom)
                if row != index.missing:
                    self._known[dom][w] = row
        self._static_end = self._next
        self._rows: dict[str, _TokenRows] = {}
        self._reset_dynamic()

    DYNAMIC_ROWS = 50_000

    def _reset_dynamic(self) -> None:
        self._next = self._static_end
        self._rows = {d: _TokenRows(self, d, known) for d, known in self._known.items()}

    def _token_row(self, tok: str, dom: str) -> int:
        """Row holding the sum of ``tok``'s local-feature weights (zero row when none is known)."""
        idx = [i for i in map(self._index.get, local_features(tok, dom)) if i is not None]
        if not idx:
            return self._index.missing
        if self._next >= len(self._weights):  # grow within a batch; reset between batches
            extra = np.zeros((self.DYNAMIC_ROWS, self._weights.shape[1]))
            self._weights = np.vstack([self._weights, extra])
        row = self._next
        self._weights[row] = self._weights[idx].sum(axis=0)
        self._next += 1
        return row

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> LinearSentimentModel:
        """A model from an artifact file outside the package (used by training)."""
        with open(path, "rb") as f:
            data = f.read()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
        return cls(str(meta.get("version", MODEL_VERSION)), data=data)

    def _indices(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        if self._next - self._static_end >= self.DYNAMIC_ROWS:
            self._reset_dynamic()
        lookup = self._index.__getitem__
        rows = {d: r.__getitem__ for d, r in self._rows.items()}
        flat: list[int] = []
        starts: list[int] = []
        for text in texts:
            starts.append(len(flat))
            toks = tokens(text)
            dom = domain(toks)
            flat.extend(map(lookup, context_features(toks, dom)))
            flat.extend(map(rows[dom], toks))
        return np.array(flat, dtype=np.intp), np.array(starts, dtype=np.intp)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """``len(texts) x 3`` class probabilities (negative, neutral, positive)."""
        if not texts:
            return np.zeros((0, 3))
        flat, starts = self._indices(texts)
        # Every headline has at least its domain-bias feature, so no segment is empty.
        logits = np.add.reduceat(self._weights[flat], starts, axis=0)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        out: np.ndarray = p / p.sum(axis=1, keepdims=True)
        return out

    def scores(self, texts: Sequence[str]) -> list[float]:
        return [float(s) for s in margin_scores(self.probabilities(texts))]

    def labels(self, texts: Sequence[str]) -> list[str]:
        """The model's argmax classes; always equal to ``label_for`` of :meth:`scores`."""
        return [label_for(s) for s in self.scores(texts)]

    def label(self, score: float) -> str:
        return label_for(score)


def margin_scores(p: np.ndarray) -> np.ndarray:
    """Class probabilities → scores in [-1, 1] whose ``label_for`` band is the argmax class.

    Positive (negative) argmax: ``±(b + (1 - b) * margin)`` with ``margin`` the lead of the top
    class over the runner-up and ``b`` the neutral band, so the score is at least ``b`` away
    from 0 and grows with confidence. Neutral argmax: ``(b - eps) * (P(pos) - P(neg))``, which
    stays inside the band.
    """
    b = NEUTRAL_BAND
    top = p.argmax(axis=1)
    srt = np.sort(p, axis=1)
    margin = srt[:, 2] - srt[:, 1]
    strong = b + (1.0 - b) * margin
    weak = (b - 1e-6) * (p[:, 2] - p[:, 0])
    out: np.ndarray = np.clip(np.where(top == 2, strong, np.where(top == 0, -strong, weak)), -1, 1)
    return out

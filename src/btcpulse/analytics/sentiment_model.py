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

import io
import json
import os
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
import polars as pl

from btcpulse.analytics.hash_index import HashIndex, combine
from btcpulse.analytics.sentiment import NEUTRAL_BAND, label_for
from btcpulse.analytics.sentiment_features import (
    CRYPTO_WORDS,
    local_features,
    token_expr,
)

MODEL_VERSION = "crypto-lin-1"
"""Version of the bundled model; the artifact is ``models/sentiment-<version>.npz``."""

CLASSES = ("negative", "neutral", "positive")


_SEED = 0x5EED


def _hashes(values: pl.Series | Sequence[str]) -> np.ndarray:
    """64-bit hashes of strings (polars' hash: stable within a process, which is all the
    lookup tables need: they are built when the model is loaded)."""
    s = values if isinstance(values, pl.Series) else pl.Series(values=list(values), dtype=pl.String)
    out: np.ndarray = s.hash(seed=_SEED).to_numpy()
    return out


_DOMAIN_CODE = {"c": 0xC0FFEE, "g": 0x6E6E6E}


def _domain_codes(doms: Sequence[str] | np.ndarray) -> np.ndarray:
    return np.where(np.asarray(doms) == "c", _DOMAIN_CODE["c"], _DOMAIN_CODE["g"]).astype(np.uint64)


def _pair_keys(
    doms: Sequence[str] | np.ndarray, first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """Keys of word pairs in a domain, from the two words' :func:`_hashes`."""
    return combine(1, _domain_codes(doms), first, second)


def _word_keys(doms: Sequence[str] | np.ndarray, hashes: np.ndarray) -> np.ndarray:
    return combine(2, _domain_codes(doms), hashes)


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
        # Scoring sums weight rows found by 64-bit keys (see _lookup_rows), so the features a
        # headline shares with others are pre-summed into one row each:
        # - a word pair and its domain copy ("a b" + "c:a b"), per domain;
        # - a known word's local features (word, domain copy, character n-grams), per domain.
        # Words first seen while scoring get a row on the fly (up to DYNAMIC_ROWS, then reset).
        pairs = sorted({n.partition(":")[2] if ":" in n else n for n in names if " " in n})
        words = [n for n in names if n and ":" not in n and " " not in n and n[0] != "#"]
        width = weights.shape[1]
        zero = index.missing
        table = np.zeros((zero + 1 + 2 * len(pairs) + 2 * len(words) + self.DYNAMIC_ROWS, width))
        table[:zero] = weights
        self._weights = table
        self._next = zero + 1
        get = index.get
        # Pair rows, per domain: the pair's weights plus its domain copy's.
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for dom in ("c", "g"):
            plain = np.array([get(pr, zero) for pr in pairs], dtype=np.int64)
            copy = np.array([get(dom + ":" + pr, zero) for pr in pairs], dtype=np.int64)
            used = np.flatnonzero((plain != zero) | (copy != zero))
            found[dom] = used, self._append(table[plain[used]] + table[copy[used]])
        split = [pr.partition(" ") for pr in pairs]
        firsts = _hashes([x for x, _, _ in split])
        seconds = _hashes([y for _, _, y in split])
        used_all = np.concatenate([found["c"][0], found["g"][0]])
        self._pairs = HashIndex(
            _pair_keys(
                np.repeat(np.array(["c", "g"]), [len(found["c"][0]), len(found["g"][0])]),
                firsts[used_all],
                seconds[used_all],
            ),
            np.concatenate([found["c"][1], found["g"][1]]),
            default=zero,
        )
        # Word rows, per domain: the word's local features summed (words with none are left
        # out: they score as unknown words do, with the zero row).
        self._known: dict[str, dict[str, int]] = {"c": {}, "g": {}}
        for dom in ("c", "g"):
            feats = [[i for i in map(get, local_features(w, dom)) if i is not None] for w in words]
            has = [k for k, f in enumerate(feats) if f]
            flat = np.array([i for k in has for i in feats[k]], dtype=np.int64)
            starts = np.cumsum([0] + [len(feats[k]) for k in has[:-1]], dtype=np.int64)
            sums = np.add.reduceat(table[flat], starts, axis=0) if has else np.zeros((0, width))
            rows = self._append(sums)
            self._known[dom] = {words[k]: int(r) for k, r in zip(has, rows, strict=True)}
        known = [(d, w, r) for d, rows_ in self._known.items() for w, r in rows_.items()]
        self._words = HashIndex(
            _word_keys([d for d, _, _ in known], _hashes([w for _, w, _ in known])),
            np.array([r for *_, r in known], dtype=np.int64),
            default=-1,
        )
        self._bos, self._eos = (int(h) for h in _hashes(["<s>", "</s>"]))
        self._bias = {d: index[f"_bias_{d}"] for d in ("c", "g")}
        self._crypto = np.sort(_hashes(sorted(CRYPTO_WORDS)))
        self._static_end = self._next
        self._rows: dict[str, _TokenRows] = {}
        self._reset_dynamic()

    DYNAMIC_ROWS = 50_000

    def _reset_dynamic(self) -> None:
        self._next = self._static_end
        self._rows = {d: _TokenRows(self, d, known) for d, known in self._known.items()}

    def _append(self, rows: np.ndarray) -> np.ndarray:
        """Store rows after the last used one; their row numbers."""
        at = np.arange(self._next, self._next + len(rows), dtype=np.int64)
        self._weights[at] = rows
        self._next += len(rows)
        return at

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

    def _lookup_rows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(headline number, weight row) of every summand, in a fixed order per headline (domain
        bias, word pairs, words), whatever else is in the batch."""
        if self._next - self._static_end >= self.DYNAMIC_ROWS:
            self._reset_dynamic()
        n = len(texts)
        lists = pl.DataFrame({"t": list(texts)}, schema={"t": pl.String}).select(token_expr())
        lens = lists.select(pl.col("t").list.len())["t"].to_numpy().astype(np.int64)
        tok = pl.col("t").explode().drop_nulls()  # an empty list explodes to one null
        cut = lists.select(tok, h=tok.hash(seed=_SEED))
        flat = cut["t"]
        th = cut["h"].to_numpy()
        of_tok = np.repeat(np.arange(n), lens)
        is_c = np.zeros(n, dtype=bool)
        near = np.minimum(np.searchsorted(self._crypto, th), len(self._crypto) - 1)
        is_c[of_tok[self._crypto[near] == th]] = True
        doms = np.where(is_c, "c", "g")
        # Each headline padded as <s> tokens </s>; a pair starts at every position but </s>.
        width = lens + 2
        start = np.cumsum(width) - width
        padded = np.empty(int(width.sum()), dtype=np.uint64)
        padded[np.arange(len(th)) + 2 * of_tok + 1] = th
        padded[start] = self._bos
        padded[start + lens + 1] = self._eos
        first = np.ones(len(padded), dtype=bool)
        first[start + lens + 1] = False
        at = np.flatnonzero(first)
        of_pair = np.repeat(np.arange(n), lens + 1)
        pair_rows = self._pairs.lookup(_pair_keys(doms[of_pair], padded[at], padded[at + 1]))
        tok_rows = self._words.lookup(_word_keys(doms[of_tok], th))
        unknown = np.flatnonzero(tok_rows < 0)
        if len(unknown):
            rows = self._rows
            tok_rows[unknown] = [
                rows[d][t]
                for d, t in zip(doms[of_tok[unknown]], flat.gather(unknown).to_list(), strict=True)
            ]
        bias = np.where(is_c, self._bias["c"], self._bias["g"])
        owner = np.concatenate([np.arange(n), of_pair, of_tok])
        return owner, np.concatenate([bias, pair_rows, tok_rows])

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """``len(texts) x 3`` class probabilities (negative, neutral, positive)."""
        n = len(texts)
        if not n:
            return np.zeros((0, 3))
        owner, rows = self._lookup_rows(texts)
        w = self._weights[rows]
        # bincount adds in array order, so each headline's sum is the same in any batch.
        logits = np.stack(
            [np.bincount(owner, weights=w[:, k], minlength=n) for k in range(w.shape[1])], axis=1
        )
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

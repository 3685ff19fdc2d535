"""Language of a headline (title + summary), detected offline, vectorised over a batch.

The model is py3langid's bundled naive Bayes over byte n-grams (langid.py, BSD; nothing is
downloaded). py3langid walks its n-gram automaton one byte at a time in Python (~5k texts/s);
here the same automaton is walked for the whole batch at once with numpy (one step per byte
position), which gives the same scores (tested against ``py3langid.classify``) several times
faster; each text's features are then sorted and counted in one pass over the batch and
their weights summed two classes at a time. Candidates are restricted to the languages news
sources publish in (:data:`CANDIDATES`); only the first :data:`MAX_BYTES` bytes of a text are
read. A text whose best language has a probability under :data:`MIN_CONFIDENCE` (very short or
mixed text) keeps the language its source declared.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import repeat
from operator import getitem, methodcaller

import numpy as np
import numpy.typing as npt
import polars as pl

CANDIDATES = ("en", "fr", "de", "es", "it", "pt", "nl", "ru", "zh", "ja", "ko", "tr")
MAX_BYTES = 256
MIN_CONFIDENCE = 0.5
LANGUAGE_VERSION = "py3langid-0.4.0/12"


@dataclass(frozen=True)
class _Model:
    # the automaton: for cell ``rowbase[state] + byte``, two int32, the next state's
    # ``rowbase`` and the feature it outputs (``nfeat`` for none), read as one int64 so that
    # one gather fetches both
    step: npt.NDArray[np.int64]
    root: int  # rowbase of the initial state
    ptc: npt.NDArray[np.float32]
    pc: npt.NDArray[np.float32]
    classes: tuple[str, ...]
    # ptc two classes at a time (8 bytes a feature), a zero row for "no feature" at the end
    ptc_pairs: npt.NDArray[np.uint64]
    ptc_weighted: npt.NDArray[np.uint64]  # the same times log1p(1), then times log1p(2)
    log1p: npt.NDArray[np.float32]  # log1p(count) for every possible count (≤ MAX_BYTES)


@lru_cache(maxsize=1)
def _model() -> _Model:
    """Load py3langid's bundled model once (≈1 s), restricted to :data:`CANDIDATES`."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(CANDIDATES))
    nextmove = np.frombuffer(ident.tk_nextmove, dtype=np.dtype(ident.tk_nextmove.typecode))
    nextmove = nextmove.astype(np.intp)
    row = np.frombuffer(ident.tk_row, dtype=np.dtype(ident.tk_row.typecode))
    output = np.asarray(ident.tk_output, dtype=np.int32)
    ptc = np.asarray(ident.nb_ptc, dtype=np.float32)
    nfeat = ptc.shape[0]
    rowbase = row.astype(np.int64) << 8
    step = np.empty((nextmove.size, 2), np.int32)
    step[:, 0] = rowbase[nextmove]
    step[:, 1] = np.where(output < 0, nfeat, output)[nextmove]
    log1p = np.log1p(np.arange(MAX_BYTES + 1, dtype=np.float32))
    return _Model(
        step=step.view(np.int64).ravel(),
        root=int(rowbase[0]),
        ptc=ptc,
        pc=np.asarray(ident.nb_pc, dtype=np.float32),
        classes=tuple(ident.nb_classes),
        ptc_pairs=_pairs(ptc),
        ptc_weighted=np.concatenate([_pairs(log1p[1] * ptc), _pairs(log1p[2] * ptc)], axis=1),
        log1p=log1p,
    )


def _pairs(ptc: npt.NDArray[np.float32]) -> npt.NDArray[np.uint64]:
    nfeat, ncls = ptc.shape
    padded = np.zeros((nfeat + 1, ncls + ncls % 2), np.float32)
    padded[:nfeat, :ncls] = ptc
    return np.stack(
        [
            np.ascontiguousarray(padded[:, j : j + 2]).view(np.uint64).ravel()
            for j in range(0, ncls, 2)
        ]
    )


_NFC = partial(unicodedata.normalize, "NFC")
_IS_UPPER = methodcaller("isupper")


def _encode(text: str) -> bytes:
    # as py3langid does: all-caps text is lower-cased, NFC, UTF-8
    if text.isupper():
        text = text.lower()
    return _NFC(text).encode("utf-8", errors="surrogatepass")[:MAX_BYTES]


def _walk(m: _Model, encoded: list[bytes], lens: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
    """Feature id at every byte of every text (``nfeat`` where none), one row per text padded
    to the longest; ``lens`` sorted longest first, so that the texts still being read at a
    position are a prefix of the batch (one numpy step per byte position)."""
    n, width = len(encoded), max(int(lens[0]), 1)
    padded = b"".join(map(bytes.ljust, encoded, repeat(width), repeat(b"\0")))
    grid = np.frombuffer(padded, np.uint8)
    grid = grid.reshape(n, width)
    # feats[k, i]: feature output at byte k of text i; "no feature" past its end and in the
    # extra last column, which keeps every text's run of "no feature" inside the array
    feats = np.full((width, n + 1), m.ptc.shape[0], np.int32)
    active = np.searchsorted(-lens, -np.arange(width), side="left").tolist()
    automaton = m.step
    base = np.full(n, m.root, np.intp)
    for k, a in enumerate(active):
        if a == 0:
            break
        cell = base[:a] + grid[:a, k]
        nxt = automaton[cell].view(np.int32).reshape(a, 2)
        base[:a] = nxt[:, 0]
        feats[k, :a] = nxt[:, 1]
    return np.ascontiguousarray(feats.T)


def _scores(m: _Model, feats: npt.NDArray[np.int32]) -> npt.NDArray[np.float32]:
    """Naive Bayes log scores per text: for each distinct feature of a text, in increasing
    feature order, ``log1p(count) * ptc[feature]``, summed with ``np.add.reduceat``."""
    rows, width = feats.shape
    n, nfeat, ncls = rows - 1, m.ptc.shape[0], m.ptc.shape[1]
    feats.sort(axis=1)  # per text: features ascending, then its run of "no feature"
    flat = feats.ravel()
    new = np.empty(flat.size, bool)
    new[0] = True
    np.not_equal(flat[1:], flat[:-1], out=new[1:])
    new[::width] = True
    runs = np.flatnonzero(new)  # one run per distinct (text, feature or none)
    feat = flat[runs]
    count = np.empty_like(runs)
    np.subtract(runs[1:], runs[:-1], out=count[:-1])
    count[-1] = flat.size - runs[-1]
    first = np.searchsorted(runs, np.arange(rows) * width)  # first run of each text
    end = first[1:] - (feat[first[1:] - 1] == nfeat)  # its features' runs end here
    bounds = np.empty(2 * n, np.intp)  # segments: features of text i, then the rest
    bounds[0::2], bounds[1::2] = first[:n], end
    has = end > first[:n]
    scores = np.zeros((n, ncls), np.float32)
    if has.any():
        # two classes per 8-byte gather, from log1p(count) * ptc for a count of 1 or 2 (almost
        # every feature of a text), the other products computed alike
        nrows = nfeat + 1
        weighted = feat + (count == 2) * nrows
        more = np.flatnonzero(count > 2)
        feat_more = feat[more]
        weight = np.repeat(m.log1p[count[more]], 2)
        summed = np.empty((2 * n, 2 * m.ptc_pairs.shape[0]), np.float32)
        for j, (table, raw) in enumerate(zip(m.ptc_weighted, m.ptc_pairs, strict=True)):
            contrib = table[weighted]
            products = raw[feat_more].view(np.float32)
            products *= weight
            contrib[more] = products.view(np.uint64)
            pair = contrib.view(np.float32).reshape(-1, 2)
            np.add.reduceat(pair, bounds, axis=0, out=summed[:, 2 * j : 2 * j + 2])
        scores[has] = summed[0::2][has, :ncls]
    return scores


def classify(texts: Sequence[str]) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Best candidate language and its probability for each text (empty text: ``""``, 0)."""
    n = len(texts)
    if n == 0:
        return [], np.zeros(0, np.float32)
    m = _model()
    if any(map(_IS_UPPER, texts)):  # as _encode, with the loops in C where possible
        texts = [t.lower() if t.isupper() else t for t in texts]
    utf8 = map(str.encode, map(_NFC, texts), repeat("utf-8"), repeat("surrogatepass"))
    encoded = list(map(getitem, utf8, repeat(slice(None, MAX_BYTES))))
    lens = np.fromiter(map(len, encoded), np.int64, n)
    order = np.argsort(-lens, kind="stable")  # longest first: active texts are a prefix
    lens_sorted = lens[order]
    scores = _scores(m, _walk(m, [encoded[i] for i in order.tolist()], lens_sorted))
    scores += m.pc
    scores *= (1.0 / np.sqrt(np.maximum(lens_sorted, 1)))[:, None].astype(np.float32)
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    best = scores.argmax(axis=1)
    conf = scores[np.arange(n), best].astype(np.float32)
    conf[lens_sorted == 0] = 0.0
    best[lens_sorted == 0] = len(m.classes)  # label ""
    inverse = np.empty(n, np.intp)
    inverse[order] = np.arange(n)
    names = (*m.classes, "")
    return [names[j] for j in best[inverse].tolist()], conf[inverse]


def detect_language(
    text: pl.Series, declared: pl.Series | None = None, min_confidence: float = MIN_CONFIDENCE
) -> pl.Series:
    """ISO 639-1 code per text; where detection is not confident, the ``declared`` code (the
    source's), else ``"en"``."""
    plain = text.dtype == pl.String and text.null_count() == 0  # nothing to fill: skip a copy
    labels, conf = classify(text.to_list() if plain else text.fill_null("").to_list())
    fallback = declared.fill_null("en").to_list() if declared is not None else ["en"] * len(labels)
    out = [
        lab if c >= min_confidence else (fb or "en")
        for lab, c, fb in zip(labels, conf.tolist(), fallback, strict=True)
    ]
    return pl.Series("lang", out, dtype=pl.String)


def headline_text(title: pl.Expr, summary: pl.Expr) -> pl.Expr:
    """The text a headline's language is read from: title, then summary."""
    return pl.concat_str([title.fill_null(""), summary.fill_null("")], separator=". ")

"""Language of a headline (title + summary), detected offline, vectorised over a batch.

The model is py3langid's bundled naive Bayes over byte n-grams (langid.py, BSD; nothing is
downloaded). py3langid walks its n-gram automaton one byte at a time in Python (~5k texts/s);
here the same automaton is walked for the whole batch at once with numpy (one step per byte
position), which gives the same scores (tested against ``py3langid.classify``) several times
faster. Candidates are restricted to the languages news sources publish in
(:data:`CANDIDATES`); only the first :data:`MAX_BYTES` bytes of a text are read. A text whose
best language has a probability under :data:`MIN_CONFIDENCE` (very short or mixed text) keeps
the language its source declared.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl

CANDIDATES = ("en", "fr", "de", "es", "it", "pt", "nl", "ru", "zh", "ja", "ko", "tr")
MAX_BYTES = 256
MIN_CONFIDENCE = 0.5
LANGUAGE_VERSION = "py3langid-0.4.0/12"


@dataclass(frozen=True)
class _Model:
    nextmove: npt.NDArray[np.int32]
    rowbase: npt.NDArray[np.int64]
    output: npt.NDArray[np.int32]
    ptc: npt.NDArray[np.float32]
    pc: npt.NDArray[np.float32]
    classes: tuple[str, ...]


@lru_cache(maxsize=1)
def _model() -> _Model:
    """Load py3langid's bundled model once (≈0.7 s), restricted to :data:`CANDIDATES`."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(CANDIDATES))
    nextmove = np.frombuffer(ident.tk_nextmove, dtype=np.dtype(ident.tk_nextmove.typecode))
    row = np.frombuffer(ident.tk_row, dtype=np.dtype(ident.tk_row.typecode))
    return _Model(
        nextmove=nextmove.astype(np.int32),
        rowbase=row.astype(np.int64) << 8,
        output=np.asarray(ident.tk_output, dtype=np.int32),
        ptc=np.asarray(ident.nb_ptc, dtype=np.float32),
        pc=np.asarray(ident.nb_pc, dtype=np.float32),
        classes=tuple(ident.nb_classes),
    )


def _encode(text: str) -> bytes:
    # as py3langid does: all-caps text is lower-cased, NFC, UTF-8
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf-8", errors="surrogatepass")[:MAX_BYTES]


def classify(texts: Sequence[str]) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Best candidate language and its probability for each text (empty text: ``""``, 0)."""
    n = len(texts)
    if n == 0:
        return [], np.zeros(0, np.float32)
    m = _model()
    encoded = [_encode(t) for t in texts]
    lens = np.fromiter((len(b) for b in encoded), np.int64, n)
    order = np.argsort(-lens, kind="stable")  # longest first: active texts are a prefix
    lens_sorted = lens[order]
    width = int(lens_sorted[0])
    # byte matrix, one row per byte position (contiguous columns of the batch)
    grid = np.zeros((max(width, 1), n), np.uint8)
    flat = np.frombuffer(b"".join(encoded[i] for i in order), np.uint8)
    starts = np.cumsum(lens_sorted) - lens_sorted
    cols = np.repeat(np.arange(n), lens_sorted)
    grid[np.arange(flat.size) - np.repeat(starts, lens_sorted), cols] = flat
    state = np.zeros(n, np.int64)
    texts_hit: list[npt.NDArray[np.intp]] = []
    feats_hit: list[npt.NDArray[np.int32]] = []
    descending = -lens_sorted
    for k in range(width):
        active = int(np.searchsorted(descending, -k, side="left"))  # texts longer than k
        s = m.nextmove[m.rowbase[state[:active]] + grid[k, :active]]
        state[:active] = s
        f = m.output[s]
        hit = np.flatnonzero(f >= 0)
        texts_hit.append(hit)
        feats_hit.append(f[hit])
    nfeat = m.ptc.shape[0]
    scores = np.zeros((n, m.ptc.shape[1]), np.float32)
    if texts_hit:
        key = np.concatenate(texts_hit).astype(np.int64) * nfeat + np.concatenate(feats_hit)
        uniq, counts = np.unique(key, return_counts=True)
        if uniq.size:
            text_of, feat_of = uniq // nfeat, uniq % nfeat
            contrib = np.log1p(counts.astype(np.float32))[:, None] * m.ptc[feat_of]
            first = np.flatnonzero(np.r_[True, text_of[1:] != text_of[:-1]])
            scores[text_of[first]] = np.add.reduceat(contrib, first, axis=0)
    scores += m.pc
    scores *= (1.0 / np.sqrt(np.maximum(lens_sorted, 1)))[:, None].astype(np.float32)
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    best = scores.argmax(axis=1)
    conf = scores[np.arange(n), best].astype(np.float32)
    conf[lens_sorted == 0] = 0.0
    inverse = np.empty(n, np.int64)
    inverse[order] = np.arange(n)
    labels = [m.classes[j] if lens_sorted[i] else "" for i, j in enumerate(best)]
    return [labels[i] for i in inverse], conf[inverse]


def detect_language(
    text: pl.Series, declared: pl.Series | None = None, min_confidence: float = MIN_CONFIDENCE
) -> pl.Series:
    """ISO 639-1 code per text; where detection is not confident, the ``declared`` code (the
    source's), else ``"en"``."""
    labels, conf = classify(text.fill_null("").to_list())
    fallback = declared.fill_null("en").to_list() if declared is not None else ["en"] * len(labels)
    out = [
        lab if c >= min_confidence else (fb or "en")
        for lab, c, fb in zip(labels, conf.tolist(), fallback, strict=True)
    ]
    return pl.Series("lang", out, dtype=pl.String)


def headline_text(title: pl.Expr, summary: pl.Expr) -> pl.Expr:
    """The text a headline's language is read from: title, then summary."""
    return pl.concat_str([title.fill_null(""), summary.fill_null("")], separator=". ")

"""Words of news items for story clustering: cut from the texts' bytes, hashed, stemmed.

Pure and vectorised (numpy, polars, pyarrow): a text whose only non-ASCII characters are known
word separators is cut on its raw bytes; any other goes through the Unicode regex ``_WORD``,
so casing and letter classes are exactly polars' own. Words of up to 8 bytes become integer
codes; each distinct word is stemmed and filtered once (see :func:`vocabulary`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

_Ints = npt.NDArray[np.int64]
_Words = npt.NDArray[np.uint64]
_Texts = npt.NDArray[np.int32]

_STOPWORDS = frozenset(
    """a about after against ahead all also am amid an and any are as at be been before being
    below between both but by can could did do does during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my
    new no nor not now of off on once only or other our out over own same says say said she
    should so some such than that the their them then there these they this those through to
    too under until up us very was we were what when where which while who whom why will with
    would you your week weeks day days today yesterday year years report reports reportedly via
    le la les un une des du de et en au aux pour par sur dans avec est sont qui que ce cette
    ses son sa leur leurs plus pas ne il elle ils elles nous vous""".split()
)
# Light stemming: one common suffix off a stem of three letters or more (tokenized, tokenization
# → token; charters → charter; approvals → approv).
_STEM = (
    r"^(\w{3,}?)"
    r"(?:izations?|isations?|ations?|izing|ising|ized|ised|izes|ises|ize|ise|als?|ings?|ed|es|s)$"
)
_WORD = r"[\p{L}\p{N}]+"
# Caseless non-ASCII characters that are neither letters nor digits (curly quotes, dashes, no-break
# space, ellipsis, bullet, «», currency and copyright signs): like ASCII punctuation they only
# separate words, so a text with no other non-ASCII character is cut into words byte by byte.
_SEPARATORS = np.array(
    [
        ord(c)
        for c in "\xa0\xa3\xa9\xab\xbb\u2013\u2014\u2015\u2018\u2019\u201c\u201d\u2022\u2026\u20ac"
    ]
)
_LOWER = bytes(c | 0x20 if chr(c).isascii() and chr(c).isalnum() else 0 for c in range(256))
_LOW = np.array([(1 << 8 * n) - 1 for n in range(9)], np.uint64)  # the low n bytes
_HIGH = np.array([((1 << 8 * n) - 1) << 8 * (8 - n) for n in range(9)], np.uint64)
_SUFFIXES = sorted(  # the alternatives of ``_STEM``, longest first
    b"izations ization isations isation ations ation izing ising ized ised izes ises ize ise als al"
    b" ings ing ed es s".split(),
    key=len,
    reverse=True,
)


def spans(lo: _Ints, hi: _Ints) -> tuple[_Ints, _Ints, _Ints]:
    """Non-empty spans ``i``: ``i``, sizes, and every ``p`` with ``lo[i] <= p < hi[i]`` in order."""
    size = hi - lo
    some = np.flatnonzero(size > 0)
    size, lo = size[some], lo[some]
    spots = np.repeat(lo - np.cumsum(size) + size, size)
    spots += np.arange(spots.size)
    return some, size, spots


def _buffers(strings: pl.Series) -> tuple[_Ints, npt.NDArray[np.uint8]]:
    """Offsets (from 0) and bytes of ``strings``."""
    arrow = _arrow(strings)
    _, offsets_buf, data = arrow.buffers()
    offsets = np.frombuffer(offsets_buf, np.int64)[arrow.offset : arrow.offset + len(arrow) + 1]
    raw = np.frombuffer(data, np.uint8) if data is not None and data.size else np.zeros(0, np.uint8)
    return offsets - offsets[0], raw[offsets[0] : offsets[-1]]


def _arrow(strings: pl.Series) -> Any:
    return strings.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(pa.large_string())


def arrow_strings(chars: npt.NDArray[np.uint8], sizes: _Ints) -> Any:
    """The arrow strings of ``sizes`` bytes each, one after the other in ``chars``."""
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return pa.LargeStringArray.from_buffers(sizes.size, pa.py_buffer(bounds), pa.py_buffer(chars))


def cut_words(texts: pl.Series) -> tuple[_Words, _Texts, Any, _Texts]:
    r"""Lower-cased ``[\p{L}\p{N}]+`` runs of ``texts`` → words of up to 8 bytes as integers (the
    bytes, little-endian), and their text index; the longer ones as an arrow array, and theirs.

    A text whose non-ASCII characters are all ``_SEPARATORS`` is cut with numpy on its bytes
    (lower-casing ASCII is per byte); any other text goes through the polars regex."""
    texts = texts.fill_null("")
    sizes = texts.str.len_bytes().to_numpy().astype(np.int64)
    starts = np.zeros(sizes.size + 1, np.int64)  # of the texts in ``raw``, one space apart
    np.cumsum(sizes + 1, out=starts[1:])
    _, raw = _buffers(texts.str.join(" ") + " " * 8)  # room to read 8 bytes anywhere
    low = np.frombuffer(raw.tobytes().translate(_LOWER), np.uint8)
    other = np.zeros(sizes.size, np.bool_)
    high = np.flatnonzero(raw >= 0x80)
    if high.size:
        lead = high[raw[high] >= 0xC0]  # first byte of each non-ASCII character
        b0 = raw[lead].astype(np.int64)
        b1 = raw[lead + 1].astype(np.int64) & 0x3F
        b2 = raw[np.minimum(lead + 2, raw.size - 1)].astype(np.int64) & 0x3F
        two, three = ((b0 & 0x1F) << 6) | b1, ((b0 & 0x0F) << 12) | (b1 << 6) | b2
        code = np.where(b0 < 0xE0, two, np.where(b0 < 0xF0, three, -1))
        other[np.searchsorted(starts, lead[~np.isin(code, _SEPARATORS)], "right") - 1] = True
        low = low.copy()
        for i in np.flatnonzero(other):
            low[starts[i] : starts[i] + sizes[i]] = 0
    word = low != 0
    change = np.empty(word.size + 1, np.bool_)
    change[0], change[-1] = word[:1].any(), word[-1:].any()
    np.not_equal(word[1:], word[:-1], out=change[1:-1])
    edges = np.flatnonzero(change)
    first = edges[0::2]
    size = edges[1::2] - first
    text = np.repeat(np.arange(sizes.size, dtype=np.int32), np.diff(np.searchsorted(first, starts)))
    short = pl.Series(size <= 8)
    at, wide = pl.Series(first).filter(short).to_numpy(), np.flatnonzero(size > 8)
    eights = np.ndarray((low.size - 7,), "<u8", low, strides=(1,))  # [i]: bytes i to i + 7
    codes = eights[at]
    codes &= _LOW[pl.Series(size).filter(short).to_numpy()]
    _, _, spots = spans(first[wide], first[wide] + size[wide])
    strings = arrow_strings(low[spots], size[wide])
    text_long = text[wide]
    if other.any():
        rest = np.flatnonzero(other)
        slow = (
            pl.DataFrame({"_s": rest.astype(np.int32), "_raw": texts.gather(rest)})
            .select("_s", pl.col("_raw").str.to_lowercase().str.extract_all(_WORD))
            .explode("_raw")
            .drop_nulls("_raw")
        )
        strings = pa.concat_arrays([strings, _arrow(slow["_raw"])])
        text_long = np.concatenate([text_long, slow["_s"].to_numpy()])
    return codes, pl.Series(text).filter(short).to_numpy(), strings, text_long


def vocabulary(words: pl.Series) -> _Ints:
    """Term number of each distinct word: the dense rank of its stem, 0 for a dropped word."""
    kept = (
        words.to_frame("_raw")
        .with_row_index("_d")
        .filter(
            (pl.col("_raw").str.len_bytes() > 1)
            & ~pl.col("_raw").is_in(list(_STOPWORDS))
            & ~pl.col("_raw").str.contains(r"^\d+$")
        )
    )
    raw = kept["_raw"]
    offsets, data = _buffers(raw)
    size = np.diff(offsets)
    # ``_STEM`` on ASCII words: the shortest stem (3+ letters) that one of the suffixes completes
    padded = np.concatenate([np.zeros(8, np.uint8), data])
    ends = np.ndarray((data.size + 1,), ">u8", padded, strides=(1,))  # [i] = the 8 bytes before i
    last = ends[offsets[1:]].astype(np.uint64)
    cut = size.copy()
    for suffix in _SUFFIXES:
        n = len(suffix)
        hit = (cut == size) & (size >= n + 3)
        hit &= (last & np.uint64((1 << 8 * n) - 1)) == np.uint64(int.from_bytes(suffix, "big"))
        cut[hit] = size[hit] - n
    stems = raw.str.slice(0, pl.Series(cut))
    wide = np.unique(np.searchsorted(offsets, np.flatnonzero(data >= 0x80), "right") - 1)
    if wide.size:  # words with non-ASCII letters: the regex itself
        stems = stems.scatter(wide, raw.gather(wide).str.replace(_STEM, "${1}"))
    tid = np.zeros(len(words), np.int64)
    tid[kept["_d"].to_numpy()] = _dense_rank(stems)
    return tid


def _dense_rank(strings: pl.Series) -> _Ints:
    """``strings.rank("dense")`` (byte order), by sorting their bytes as big-endian integers."""
    offsets, data = _buffers(strings)
    size = np.diff(offsets)
    width = max(1, -(-int(size.max(initial=0)) // 8))
    if width > 4:
        return strings.rank("dense").to_numpy().astype(np.int64)
    padded = np.concatenate([data, np.zeros(8 * width, np.uint8)])
    eights = np.ndarray((padded.size - 7,), "<u8", padded, strides=(1,))
    keys = [
        eights[offsets[:-1] + 8 * c].byteswap() & _HIGH[np.clip(size - 8 * c, 0, 8)]
        for c in range(width)
    ]
    order = np.lexsort(keys[::-1])
    step = np.ones(order.size, np.int64)
    step[1:] = np.any([key[order][1:] != key[order][:-1] for key in keys], axis=0)
    rank = np.empty(order.size, np.int64)
    rank[order] = np.cumsum(step)
    return rank

"""Story clustering: the same story from several outlets becomes one story with a stable id.

A cross-batch, derived analytic (contract 1): ``assign_stories(recent, new)`` gives each new
item a ``story_id``, reading the already-assigned items of a trailing window back from the
store. The rule, applied in event-time order ``(published_at, id)``:

- an item's similarity to another is the cosine of their TF-IDF vectors over the normalised
  title (counted twice) and description; only items published within ``PAIR_WINDOW`` of each
  other are compared;
- an item joins the story of its most similar predecessor (any stored item, or an earlier item
  of its batch) when that similarity reaches the threshold; otherwise it starts a story whose
  id is ``"s:" + its own id``.

Stored stories and earlier new items compete on similarity alone (no preference for stored
ones), so the result does not depend on how the items were cut into batches, as long as
batches arrive in time order and ``recent`` covers ``RECENT_WINDOW`` before the earliest new
item. IDF is *time-anchored* for the same reason: an item's term weights use the document
frequencies among the items of the ``PAIR_WINDOW`` that ends at it (itself included), which
later batches cannot change. A late item (published before stored ones) may join their story;
stored rows are never relabelled.

Vectorised (numpy, polars, pyarrow), no Python loop per item or word: words are cut from the
texts' bytes and hashed once, stemmed once per distinct word; windowed document frequencies
come from sorted ``(term, item)`` keys by binary search; similarities are weight products summed
per (new item, candidate) slot, rounded to 9 decimals; story links are followed by pointer
jumping.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from btcpulse.analytics.story_words import arrow_strings, cut_words, spans, vocabulary

PAIR_WINDOW = timedelta(hours=24)
RECENT_WINDOW = 2 * PAIR_WINDOW
"""How far before its earliest new item ``recent`` must reach (the pairs' window, plus the IDF
window of the oldest item a new one can be compared with)."""
DEFAULT_THRESHOLD = 0.3
TITLE_WEIGHT = 2.0
STORIES_VERSION = "tfidf-2025.12-1"

_IN = {"id": pl.String, "source": pl.String, "title": pl.String, "summary": pl.String}

_Ints = npt.NDArray[np.int64]
_Floats = npt.NDArray[np.float64]
_Bools = npt.NDArray[np.bool_]
_Words = npt.NDArray[np.uint64]
_Texts = npt.NDArray[np.int32]
_Terms = tuple[_Ints, _Ints, _Floats, _Ints]


def _docs(recent: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """Recent and new items, each id once, ordered by event time: ``_k`` is the position."""
    cols = [pl.col(c).cast(t) for c, t in _IN.items()]
    when = pl.col("published_at").dt.epoch("us").alias("_t")
    old = recent.select(
        *cols, when, pl.col("story_id").cast(pl.String), pl.lit(False).alias("_new")
    )
    fresh = (
        new.select(*cols, when, pl.lit(None, dtype=pl.String).alias("story_id"))
        .with_columns(pl.lit(True).alias("_new"))
        .filter(~pl.col("id").is_in(old["id"].implode()))
    )
    both = pl.concat([old.unique("id", keep="first"), fresh], how="vertical")
    both = both.sort(["_t", "id", "_new"]).unique("id", keep="first", maintain_order=True)
    return both.with_row_index("_k")


def _terms(docs: pl.DataFrame) -> tuple[_Ints, _Ints, _Ints]:
    """``(tid, k, tf)`` sorted by ``(tid, k)``: normalised, stop-worded, lightly stemmed terms
    (``tid`` is the dense rank of the stem); title words count twice."""
    n = docs.height
    codes, text, strings, text_long = cut_words(pl.concat([docs["title"], docs["summary"]]))
    short, long = pc.dictionary_encode(pa.array(codes)), pc.dictionary_encode(strings)
    distinct = np.asarray(short.dictionary).view(np.uint8).reshape(-1, 8)
    letters = distinct != 0  # a short word is its bytes up to the first zero
    shorts = arrow_strings(distinct[letters], letters.sum(axis=1))
    # Filtering and stemming run once per distinct word, not once per word.
    distinct_words = pa.concat_arrays([shorts, long.dictionary.cast(pa.large_string())])
    tid_of = vocabulary(pl.Series("_raw", distinct_words, dtype=pl.String))
    tid = np.concatenate(
        [tid_of[np.asarray(short.indices)], tid_of[len(shorts) + np.asarray(long.indices)]]
    )
    kept = pl.Series(tid > 0)
    tid = pl.Series(tid).filter(kept).to_numpy()
    text = pl.Series(np.concatenate([text, text_long])).filter(kept).to_numpy()
    title = text < n
    small = (int(tid.max(initial=0)) + 1) * max(n, 1) < 1 << 32
    key = (tid * n + text - np.where(title, 0, n)).astype(np.uint32 if small else np.uint64)
    key = np.sort(np.concatenate([key, pl.Series(key).filter(pl.Series(title)).to_numpy()]))
    head = np.ones(key.size, np.bool_)
    head[1:] = key[1:] != key[:-1]
    at = np.flatnonzero(head)
    tf = np.diff(np.append(at, key.size))
    terms = key[at].astype(np.int64)
    return terms // max(n, 1), terms % max(n, 1), tf.astype(np.int64)


def _weights(tid: _Ints, k: _Ints, tf: _Ints, times: _Ints, span: int) -> tuple[_Floats, _Ints]:
    """Unit-length TF-IDF weights of the ``(tid, k)`` terms, with time-anchored IDF; and for
    each term, the position of the first term of its word in the IDF window."""
    n = times.size
    back = k - np.searchsorted(times, times - span, "right")[k]  # k minus the window's first
    key = tid * n
    key += k
    # Items holding the term among those of the window that ends at k (itself included), from
    # positions in the (tid, k)-sorted terms: ``1 + seen`` below.
    first = np.searchsorted(key, key - back, "left")
    ratio = back + 2.0  # 1 + the window's items (integers: the floats are exact)
    ratio /= np.arange(2.0, key.size + 2.0) - first
    idf = pl.Series(ratio).log().to_numpy() + 1.0  # polars' ``ln``: the reference's bits
    logs = pl.Series(np.arange(int(tf.max(initial=0)) + 1, dtype=np.float64)).log().to_numpy()
    w = logs[tf]  # ``ln`` of each distinct count, as polars computes it
    w += 1.0
    w *= idf
    w2 = pl.DataFrame({"_k": pl.Series(k, dtype=pl.UInt64), "w2": w * w})
    norm = w2.group_by("_k").agg(pl.col("w2").sum().sqrt())  # as the reference sums them
    norms = np.zeros(n)
    norms[norm["_k"].to_numpy()] = norm["w2"].to_numpy()
    w /= norms[k]
    return w, first


def _parents(
    terms: _Terms, times: _Ints, fresh: _Bools, threshold: float, span: int
) -> tuple[_Ints, _Ints]:
    """``(item, parent)``: each new item's most similar admissible predecessor (any stored item,
    or an earlier new one, within the window), when the similarity reaches ``threshold``."""
    tid, k, w, first = terms
    n = times.size
    lo = np.searchsorted(times, times - span, "left")
    hi = np.searchsorted(times, times + span, "right")
    everyone = bool(fresh.all())
    query = np.arange(k.size) if everyone else np.flatnonzero(fresh[k])
    kq, start, wq = (k, first, w) if everyone else (k[query], first[query], w[query])
    # The pairs' window starts where the IDF one does, unless an item is exactly one window
    # before another.
    late = np.flatnonzero((lo != np.searchsorted(times, times - span, "right"))[kq])
    if late.size:
        start = start.copy()
        fix = query[late]
        start[late] = np.searchsorted(tid * n + k, tid[fix] * n + lo[k[fix]], "left")
    # Similarities summed per (new item, candidate) slot: a new item's slots are its window (its
    # earlier part only, when every item is new).
    items = np.flatnonzero(fresh)
    seg = np.zeros(items.size + 1, np.int64)
    np.cumsum((items if everyone else hi[items]) - lo[items], out=seg[1:])
    row = np.zeros(n, np.int64)
    row[items] = np.arange(items.size)
    base = seg[row[kq]] - lo[kq]
    # Candidates sharing a term: earlier items of the window, then later stored ones.
    some, size, other = spans(start, query)
    slot = np.repeat(base[some], size)
    slot += k[other]
    product = np.repeat(wq[some], size)
    product *= w[other]
    if not everyone:
        some, size, other = spans(query + 1, np.searchsorted(tid * n + k, (tid * n + hi[k])[query]))
        stored = ~fresh[k[other]]
        slot = np.concatenate([slot, (np.repeat(base[some], size) + k[other])[stored]])
        product = np.concatenate([product, (np.repeat(wq[some], size) * w[other])[stored]])
    if int(seg[-1]) <= 4 * slot.size + (1 << 16):
        cells = None
    else:  # a sparse window: number the slots in use
        cells, slot = np.unique(slot, return_inverse=True)
    total = np.bincount(slot, weights=product, minlength=int(seg[-1]) if cells is None else 0)
    if threshold > 1e-6:  # rounding to 9 decimals moves a sum by less than 1e-9
        at = np.flatnonzero(total >= threshold - 1e-6)
    else:
        at = np.flatnonzero(np.bincount(slot, minlength=total.size))
    sim = pl.Series(total[at]).round(9).to_numpy()
    good = sim >= threshold
    cell, sim = (at if cells is None else cells[at])[good], sim[good]
    r = np.searchsorted(seg, cell, "right") - 1
    item = items[r]
    parent = lo[item] + cell - seg[r]
    order = np.lexsort((parent, -sim, item))  # most similar first, then the earliest
    item, parent = item[order], parent[order]
    head = np.ones(item.size, np.bool_)
    head[1:] = item[1:] != item[:-1]
    return item[head], parent[head]


def assign_stories(
    recent: pl.DataFrame,
    new: pl.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    window: timedelta = PAIR_WINDOW,
) -> pl.DataFrame:
    """Story ids for ``new`` items → ``id, story_id``, one row per row of ``new``, in order.

    ``recent``: ``id, source, title, summary, published_at, story_id`` (already assigned);
    ``new``: the same without ``story_id``. A new id already in ``recent`` keeps its stored
    story (a replayed batch changes nothing).
    """
    window_us = int(window / timedelta(microseconds=1))
    if window_us <= 0:
        raise ValueError(f"window must be positive, got {window}")
    docs = _docs(recent, new)
    n = docs.height
    times = docs["_t"].to_numpy().astype(np.int64)
    fresh = docs["_new"].to_numpy().astype(np.bool_)
    parent = np.full(n, -1, np.int64)
    if fresh.any():
        tid, k, tf = _terms(docs)
        w, first = _weights(tid, k, tf, times, window_us)
        item, chosen = _parents((tid, k, w, first), times, fresh, threshold, window_us)
        parent[item] = chosen
    # A new item takes its parent's story; parents are stored items or earlier new items, so
    # following the links between new items (pointer jumping) reaches a root.
    own = np.arange(n)
    link = np.where((parent >= 0) & fresh[np.maximum(parent, 0)], parent, own)
    while not np.array_equal(nxt := link[link], link):
        link = nxt
    roots = docs.select(
        pl.when(pl.Series(fresh & (parent < 0)))
        .then(pl.lit("s:") + pl.col("id"))
        .otherwise(pl.col("story_id").gather(pl.Series(np.where(parent >= 0, parent, own))))
    ).to_series()
    story = roots.gather(link).alias("story_id")
    if story.null_count() == story.len():
        story = story.cast(pl.Null)  # as a list of all-None stories would be
    ids = pl.DataFrame([docs["id"], story])
    return new.select(pl.col("id").cast(pl.String)).join(
        ids, on="id", how="left", maintain_order="left"
    )


def story_summary(assigned: pl.DataFrame) -> pl.DataFrame:
    """Items with ``id, source, title, published_at, story_id`` → one row per story:
    ``story_id, size, source_count, first_source, first_published_at, title`` (the title of
    the first report), ordered by first publication."""
    return (
        assigned.sort(["published_at", "id"])
        .group_by("story_id", maintain_order=True)
        .agg(
            pl.col("id").n_unique().cast(pl.UInt32).alias("size"),
            pl.col("source").n_unique().cast(pl.UInt32).alias("source_count"),
            pl.col("source").first().alias("first_source"),
            pl.col("published_at").first().alias("first_published_at"),
            pl.col("title").first(),
        )
        .sort(["first_published_at", "story_id"])
    )

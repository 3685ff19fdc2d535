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

Everything except the final walk up the "joins the story of" links is polars; that walk is a
dict lookup per new item.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

PAIR_WINDOW = timedelta(hours=24)
RECENT_WINDOW = 2 * PAIR_WINDOW
"""How far before its earliest new item ``recent`` must reach (the pairs' window, plus the IDF
window of the oldest item a new one can be compared with)."""
DEFAULT_THRESHOLD = 0.3
TITLE_WEIGHT = 2.0
STORIES_VERSION = "tfidf-2025.12-1"

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

_SPAN = 1 << 32  # (term, position) packed in one UInt64 sort key
_IN = {"id": pl.String, "source": pl.String, "title": pl.String, "summary": pl.String}


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


def _terms(docs: pl.DataFrame) -> pl.DataFrame:
    """``_key, tf`` sorted by ``_key`` = term number x ``_SPAN`` + ``_k``: normalised,
    stop-worded, lightly stemmed terms; title words count twice."""

    def words(col: str) -> pl.DataFrame:
        text = pl.col(col).fill_null("").str.to_lowercase()
        return docs.select("_k", text.str.extract_all(r"[\p{L}\p{N}]+").alias("_raw")).explode(
            "_raw"
        )

    title, summary = words("title"), words("summary")
    # Filtering and stemming run once per distinct token of the batch, not once per token.
    vocabulary = (
        pl.concat([title, summary])
        .lazy()
        .select(pl.col("_raw").unique())
        .filter(
            (pl.col("_raw").str.len_bytes() > 1)
            & ~pl.col("_raw").is_in(list(_STOPWORDS))
            & ~pl.col("_raw").str.contains(r"^\d+$")
        )
        .select("_raw", pl.col("_raw").str.replace(_STEM, "${1}").rank("dense").alias("_tid"))
        .collect()
    )

    def keyed(tokens: pl.DataFrame) -> pl.DataFrame:
        return tokens.join(vocabulary, on="_raw").select(
            (pl.col("_tid").cast(pl.UInt64) * _SPAN + pl.col("_k")).alias("_key")
        )

    title_keys = keyed(title)
    keys = pl.concat([title_keys, title_keys, keyed(summary)]).sort("_key")
    runs = keys["_key"].rle().struct.unnest()  # sorted: each run is one (term, item)
    return runs.select(pl.col("value").alias("_key"), pl.col("len").cast(pl.Float64).alias("tf"))


def _vectors(docs: pl.DataFrame, window_us: int) -> pl.DataFrame:
    """``_k, _tid, w, _t, _new``: unit-length TF-IDF vectors with time-anchored IDF."""
    times = docs["_t"]
    lo = times.search_sorted(times - window_us, side="right").cast(pl.UInt64)
    terms = _terms(docs)
    key = terms["_key"]
    tid, k = key // _SPAN, key % _SPAN
    k_lo = lo.gather(k)
    # Items holding the term among those of the window that ends at _k (itself included),
    # from positions in the (term, _k)-sorted rows: no window function per term.
    first = key.search_sorted(tid * _SPAN + k_lo, side="left").cast(pl.Int64)
    seen = pl.int_range(1, terms.height + 1, dtype=pl.Int64, eager=True) - first
    n_docs = (k.cast(pl.Int64) - k_lo.cast(pl.Int64) + 1).cast(pl.Float64)
    idf = ((1.0 + n_docs) / (1.0 + seen.cast(pl.Float64))).log() + 1.0
    w = (1.0 + terms["tf"].log()) * idf
    norm = pl.DataFrame({"_k": k, "w2": w * w}).group_by("_k").agg(pl.col("w2").sum().sqrt())
    norms = pl.Series([0.0] * docs.height, dtype=pl.Float64).scatter(norm["_k"], norm["w2"])
    return pl.DataFrame(
        {
            "_k": k,
            "_tid": tid,
            "w": w / norms.gather(k),
            "_t": times.gather(k),
            "_new": docs["_new"].gather(k),
        }
    )


def _parents(vectors: pl.DataFrame, threshold: float, window_us: int) -> pl.DataFrame:
    """For each new item, its most similar admissible predecessor at or above ``threshold``."""
    day = pl.col("_t") // window_us
    t_min = vectors.select(pl.col("_t").min()).item() if vectors.height else 0
    base = int(t_min) // window_us - 1

    def cell(offset: int) -> pl.Expr:  # (term, time bucket) packed in one join key
        return (pl.col("_tid") * _SPAN + (day - base + offset).cast(pl.UInt64)).alias("_cell")

    query = vectors.lazy().filter(pl.col("_new")).select("_k", "w", "_t", cell(0))
    cands = pl.concat(
        [
            vectors.lazy().select(
                pl.col("_k").alias("_j"),
                pl.col("w").alias("_wj"),
                pl.col("_t").alias("_tj"),
                pl.col("_new").alias("_nj"),
                cell(d),
            )
            for d in (-1, 0, 1)
        ]
    )
    return (
        query.join(cands, on="_cell")
        .filter(
            (pl.col("_j") != pl.col("_k"))
            & (~pl.col("_nj") | (pl.col("_j") < pl.col("_k")))
            & ((pl.col("_t") - pl.col("_tj")).abs() <= window_us)
        )
        .group_by((pl.col("_k") * _SPAN + pl.col("_j")).alias("_pair"))
        .agg((pl.col("w") * pl.col("_wj")).sum().round(9).alias("sim"))
        .filter(pl.col("sim") >= threshold)
        .select(
            (pl.col("_pair") // _SPAN).alias("_k"), (pl.col("_pair") % _SPAN).alias("_j"), "sim"
        )
        .sort(["_k", "sim", "_j"], descending=[False, True, False])
        .unique("_k", keep="first")
        .select(pl.col("_k").cast(pl.UInt32), pl.col("_j").alias("_parent"))
        .collect()
    )


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
    docs = _docs(recent, new)
    window_us = int(window / timedelta(microseconds=1))
    parents = _parents(_vectors(docs, window_us), threshold, window_us)
    chosen = docs.join(parents, on="_k", how="left").sort("_k")
    rows = chosen.select("_k", "id", "story_id", "_new", "_parent").rows()
    # stored items first: a new item's parent may be a stored item published after it
    story: dict[int, str] = {r[0]: r[2] for r in rows if not r[3]}
    for k, item_id, _, is_new, parent in rows:  # new items in order: parents come first
        if is_new:
            story[k] = story[parent] if parent is not None else "s:" + item_id
    ids = chosen.select("id", pl.Series("story_id", [story[k] for k in chosen["_k"]]))
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

"""Headline sentiment. The baseline is VADER (a general-purpose lexicon).

A scorer is built once (loading its lexicon is the only I/O) and then maps lists of headlines
to scores in [-1, 1] and labels positive / negative / neutral.

A scorer knows the languages it was built for (``languages``; both scorers here are English).
An article in any other language gets no score at all, never an English model's guess: no
enrichment row, so the API says "not scored" and the index leaves it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import polars as pl

NEUTRAL_BAND = 0.05
BASELINE_VERSION = "vader-3.3.2"
ENGLISH: tuple[str, ...] = ("en",)


class SentimentScorer(Protocol):
    version: str
    languages: tuple[str, ...]
    """ISO 639-1 codes of the text the scorer was built for; other languages are not scored."""

    def scores(self, texts: Sequence[str]) -> list[float]: ...


def label_for(score: float, band: float = NEUTRAL_BAND) -> str:
    if score >= band:
        return "positive"
    if score <= -band:
        return "negative"
    return "neutral"


@dataclass
class VaderScorer:
    """VADER compound score (vaderSentiment 3.3.2, MIT)."""

    version: str = BASELINE_VERSION
    languages: tuple[str, ...] = ENGLISH

    def __post_init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def scores(self, texts: Sequence[str]) -> list[float]:
        return [float(self._analyzer.polarity_scores(t)["compound"]) for t in texts]


def scored_mask(lang: pl.Series, scorer: SentimentScorer) -> pl.Series:
    """True where the article's language is one the scorer knows (a null language is not)."""
    return lang.is_in(list(scorer.languages)).fill_null(False)


def score_news(news: pl.DataFrame, scorer: SentimentScorer) -> pl.DataFrame:
    """``news`` with ``id``, ``title`` and ``lang`` → ``id, sentiment, sentiment_label,
    model_version``, one row per article in a language the scorer knows (the others are left
    out: not scored). Without a ``lang`` column every article counts as English."""
    if "lang" in news.columns:
        news = news.filter(scored_mask(news["lang"], scorer))
    scores = scorer.scores(news["title"].to_list()) if news.height else []
    return pl.DataFrame(
        {
            "id": news["id"],
            "sentiment": pl.Series(scores, dtype=pl.Float64),
            "sentiment_label": pl.Series([label_for(s) for s in scores], dtype=pl.String),
            "model_version": pl.Series([scorer.version] * news.height, dtype=pl.String),
        }
    )


MODELS = ("default", "vader")
"""Scorers the engine can run: the bundled crypto model (``default``) or the VADER baseline."""


def model_version(name: str) -> str:
    """The version string a scorer writes, without loading it (the web app needs only this)."""
    if name == "vader":
        return BASELINE_VERSION
    from btcpulse.analytics.sentiment_model import MODEL_VERSION

    return MODEL_VERSION


def make_scorer(name: str) -> SentimentScorer:
    """Build the named scorer (loads its lexicon or weights: the only I/O it does)."""
    if name == "vader":
        return VaderScorer()
    from btcpulse.analytics.sentiment_model import LinearSentimentModel

    return LinearSentimentModel()

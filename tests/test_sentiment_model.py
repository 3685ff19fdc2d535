"""The bundled headline-sentiment model and the ``sentiment`` CLI (eval, score)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from btcpulse.analytics.sentiment import SentimentScorer, label_for
from btcpulse.analytics.sentiment_features import features, in_holdout
from btcpulse.analytics.sentiment_model import MODEL_VERSION, LinearSentimentModel, margin_scores
from btcpulse.cli_sentiment import sentiment_app

HEADLINES = {
    "Bitcoin rallies above $100k as ETF inflows surge": "positive",
    "Exchange hacked, $200M stolen from hot wallets": "negative",
    "Bitcoin price unchanged at $30k": "neutral",
    "Crypto lender files for bankruptcy after withdrawals halted": "negative",
    "Company profit rose 25% to EUR 12 million, beating forecasts": "positive",
    "The company is headquartered in Helsinki, Finland": "neutral",
}


@pytest.fixture(scope="module")
def model() -> LinearSentimentModel:
    return LinearSentimentModel()


def test_implements_the_scorer_protocol(model: LinearSentimentModel) -> None:
    scorer: SentimentScorer = model
    assert scorer.version == MODEL_VERSION
    assert model.scores([]) == []


def test_hand_written_headlines(model: LinearSentimentModel) -> None:
    labels = model.labels(list(HEADLINES))
    right = sum(got == want for got, want in zip(labels, HEADLINES.values(), strict=True))
    assert right >= len(HEADLINES) - 1, dict(zip(HEADLINES, labels, strict=True))
    # The two clear-cut crypto ones must hold.
    assert labels[0] == "positive"
    assert labels[1] == "negative"


def test_scores_in_range_and_label_is_argmax(model: LinearSentimentModel) -> None:
    texts = [*HEADLINES, "", "!!!", "€ £ $ %", "zzzz qqqq xxxx", "a" * 500, "Bitcoin " * 50]
    scores = model.scores(texts)
    probs = model.probabilities(texts)
    assert len(scores) == len(texts)
    classes = ("negative", "neutral", "positive")
    for s, p in zip(scores, probs, strict=True):
        assert -1.0 <= s <= 1.0
        assert label_for(s) == classes[int(np.argmax(p))] == model.label(s)
    assert model.labels(texts) == [label_for(s) for s in scores]


def test_margin_scores_keep_the_band() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet([1.0, 1.0, 1.0], size=2000)
    s = margin_scores(p)
    assert np.all(np.abs(s) <= 1.0)
    want = np.array(["negative", "neutral", "positive"])[p.argmax(axis=1)]
    assert [label_for(float(x)) for x in s] == want.tolist()


def test_fast_path_equals_feature_sum(model: LinearSentimentModel) -> None:
    """Scoring pre-sums token features; the result must equal summing every named feature."""
    texts = [*HEADLINES, "Zyxwv unseen-token headline 2031", "Solana\u2019s DeFi TVL drops 40%"]
    index = model._index  # white-box check of the fast path
    weights = model._weights
    for text, p in zip(texts, model.probabilities(texts), strict=True):
        logits = sum((weights[index[f]] for f in features(text)), np.zeros(3))
        q = np.exp(logits - logits.max())
        np.testing.assert_allclose(p, q / q.sum(), rtol=1e-9, atol=1e-12)


words = st.sampled_from(
    ["bitcoin", "rallies", "hack", "stolen", "profit", "rose", "ETF", "the", "falls", "record"]
)
headline = st.lists(
    st.one_of(words, st.text(min_size=1, max_size=8), st.sampled_from(["$100k", "40%", "2,031"])),
    max_size=12,
).map(" ".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(headline, min_size=1, max_size=20))
def test_vectorised_scoring_equals_the_feature_sum(
    model: LinearSentimentModel, texts: list[str]
) -> None:
    """Any text, any batch: the vectorised path (hashed keys, pre-summed rows) gives the
    probabilities of summing every named feature of :func:`features` one text at a time."""
    index = model._index
    weights = model._weights
    for text, p in zip(texts, model.probabilities(texts), strict=True):
        logits = sum((weights[index[f]] for f in features(text)), np.zeros(3))
        q = np.exp(logits - logits.max())
        np.testing.assert_allclose(p, q / q.sum(), rtol=1e-9, atol=1e-12)


def test_batch_equals_single(model: LinearSentimentModel) -> None:
    texts = list(HEADLINES)
    assert model.scores(texts) == [model.scores([t])[0] for t in texts]


def test_holdout_split_is_stable() -> None:
    texts = [f"headline number {i}" for i in range(2000)]
    share = sum(map(in_holdout, texts)) / len(texts)
    assert 0.15 < share < 0.25
    assert in_holdout("Bitcoin  rallies") == in_holdout("bitcoin rallies")


EVAL_ARGS = ["eval", "--text-column", "headline", "--label-column", "sentiment"]


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["headline", "sentiment"])
        w.writerows(rows)
    return path


def test_eval_cli_output_shape(tmp_path: Path) -> None:
    f = _write_csv(
        tmp_path / "small.csv",
        [*HEADLINES.items(), ("Bitcoin is something", "mixed"), ("Ether steady", "")],
    )
    runner = CliRunner()
    for model in ("default", "vader"):
        res = runner.invoke(
            sentiment_app,
            [*EVAL_ARGS, str(f), "--model", model],
        )
        assert res.exit_code == 0, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1
        out = json.loads(lines[0])
        assert {"n", "accuracy", "macro_f1", "headlines_per_s", "skipped"} <= set(out)
        assert out["n"] == len(HEADLINES)
        assert out["skipped"] == 2
        assert 0.0 <= out["accuracy"] <= 1.0 and 0.0 <= out["macro_f1"] <= 1.0
        assert out["headlines_per_s"] > 0
    res = runner.invoke(sentiment_app, ["eval", str(f), "--text-column", "nope"])
    assert res.exit_code != 0


def test_score_cli() -> None:
    res = CliRunner().invoke(sentiment_app, ["score", "Exchange hacked, $200M stolen"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["label"] == label_for(out["score"]) == "negative"
    assert -1.0 <= out["score"] <= 1.0


SENTIMENT = SHARED / "sentiment"

# Hold-out macro-F1 of the committed model (model/REPORT.md: 0.888 / 0.541), less 0.02.
# The targets of issue 6 are 0.90 / 0.75: not reached yet.
HOLDOUT_FLOORS = {"fpb_allagree": 0.87, "cryptolin": 0.52}


@pytest.mark.skipif(
    not SENTIMENT.is_dir(), reason=f"labelled data not present at {SENTIMENT} (../shared)"
)
def test_holdout_figures(tmp_path: Path) -> None:
    import polars as pl

    fpb = pl.read_csv(SENTIMENT / "financial_phrasebank_dev.csv").filter(
        pl.col("min_agreement_pct") == 100
    )
    cl = pl.read_csv(SENTIMENT / "cryptolin_crypto_headlines_dev.csv")
    sets = {
        "fpb_allagree": list(fpb.select("sentence", "label").iter_rows()),
        "cryptolin": list(cl.select("headline", "label").iter_rows()),
    }
    runner = CliRunner()
    got = {}
    for name, rows in sets.items():
        f = _write_csv(tmp_path / f"{name}.csv", rows)
        res = runner.invoke(
            sentiment_app,
            [*EVAL_ARGS, str(f), "--split", "holdout"],
        )
        assert res.exit_code == 0, res.output
        got[name] = json.loads(res.output)
        assert got[name]["n"] == sum(in_holdout(t) for t, _ in rows)
    for name, floor in HOLDOUT_FLOORS.items():
        assert got[name]["macro_f1"] >= floor, got

"""``btcpulse sentiment``: evaluate a sentiment model on a labelled CSV, or score one text."""

from __future__ import annotations

import json
import os
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the analytics (and polars) load only when a command runs
    from btcpulse.analytics.sentiment import SentimentScorer

sentiment_app = typer.Typer(
    help="Headline sentiment: evaluate or try a model.", no_args_is_help=True
)

LABELS = ("negative", "neutral", "positive")


class ModelChoice(StrEnum):
    default = "default"
    vader = "vader"


class Split(StrEnum):
    all = "all"
    holdout = "holdout"
    train = "train"


def _scorer(model: ModelChoice) -> SentimentScorer:
    from btcpulse.analytics.sentiment import make_scorer

    return make_scorer(model.value)


def _label(score: float) -> str:
    from btcpulse.analytics.sentiment import label_for

    return label_for(score)


def _macro_f1(gold: list[str], pred: list[str]) -> float:
    f1s = []
    for c in LABELS:
        tp = sum(g == c and p == c for g, p in zip(gold, pred, strict=True))
        fp = sum(g != c and p == c for g, p in zip(gold, pred, strict=True))
        fn = sum(g == c and p != c for g, p in zip(gold, pred, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s)


def _timed_scores(scorer: SentimentScorer, texts: list[str]) -> tuple[list[float], float]:
    """Scores and headlines/s, batch scoring pinned to one core where the OS allows it."""
    affinity = getattr(os, "sched_getaffinity", None)
    old = affinity(0) if affinity else None
    if old:
        os.sched_setaffinity(0, {min(old)})
    try:
        t0 = time.perf_counter()
        scores = scorer.scores(texts)
        elapsed = time.perf_counter() - t0
    finally:
        if old:
            os.sched_setaffinity(0, old)
    return scores, (len(texts) / elapsed if elapsed > 0 else 0.0)


@sentiment_app.command("eval")
def eval_cmd(
    file: Annotated[Path, typer.Argument(help="CSV with a text and a label column.")],
    text_column: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    label_column: Annotated[
        str, typer.Option(help="Column holding positive / negative / neutral.")
    ] = "label",
    model: Annotated[ModelChoice, typer.Option(help="Model to evaluate.")] = ModelChoice.default,
    split: Annotated[
        Split, typer.Option(help="Rows to keep: all, or the training hash split's side.")
    ] = Split.all,
) -> None:
    """Print one JSON line: n, accuracy, macro_f1, headlines_per_s, skipped."""
    import polars as pl

    from btcpulse.analytics.sentiment_features import in_holdout

    df = pl.read_csv(file, infer_schema_length=0)
    for col in (text_column, label_column):
        if col not in df.columns:
            raise typer.BadParameter(f"no column {col!r} in {file} (has {df.columns})")
    texts: list[str] = []
    gold: list[str] = []
    skipped = 0
    for text, label in df.select(text_column, label_column).iter_rows():
        lab = (label or "").strip().lower()
        if text is None or lab not in LABELS:
            skipped += 1
            continue
        if split is not Split.all and in_holdout(text) != (split is Split.holdout):
            continue
        texts.append(text)
        gold.append(lab)
    scorer = _scorer(model)
    scores, speed = _timed_scores(scorer, texts) if texts else ([], 0.0)
    pred = [_label(s) for s in scores]
    n = len(gold)
    out = {
        "n": n,
        "accuracy": round(sum(g == p for g, p in zip(gold, pred, strict=True)) / n, 4)
        if n
        else 0.0,
        "macro_f1": round(_macro_f1(gold, pred), 4) if n else 0.0,
        "headlines_per_s": round(speed, 1),
        "skipped": skipped,
        "model": scorer.version,
    }
    typer.echo(json.dumps(out))


@sentiment_app.command("score")
def score_cmd(
    text: Annotated[str, typer.Argument(help="A headline.")],
    model: Annotated[ModelChoice, typer.Option(help="Model to use.")] = ModelChoice.default,
) -> None:
    """Print JSON with the score in [-1, 1] and its label."""
    scorer = _scorer(model)
    s = scorer.scores([text])[0]
    typer.echo(
        json.dumps(
            {"text": text, "score": round(s, 4), "label": _label(s), "model": scorer.version}
        )
    )

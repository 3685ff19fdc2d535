"""Choose the student's settings without touching the hold-out.

``python model/validate.py [--crypto-weight W] [--gold-mix M] [--unlabelled-weight U] [--c C]``
(offline, with ``model/requirements-train.txt``). A second hash, independent of the hold-out's,
carves 20% of every set's *training* rows into a validation set. A separate teacher is fine-tuned
without them (cached under ``var/model-cache/``, about 20 minutes on 2 cores), so its soft labels
carry nothing of the validation rows. The student is then fitted exactly as ``train.py`` does and
scored on the validation rows. The hold-out of ``train.py`` is never read.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from typing import Any

import report
import train  # model/train.py (run as a script, model/ is on sys.path)


def in_validation(text: str) -> bool:
    """20% of the training rows, by a salted hash independent of the hold-out's."""
    return int(hashlib.sha256(("val:" + text.lower()).encode()).hexdigest()[:8], 16) % 5 == 0


def scores(val: list[dict[str, Any]], pred: list[str]) -> dict[str, float]:
    from sklearn.metrics import f1_score

    out = {}
    for name in ("fpb_allagree", "cryptolin", "fpb"):
        idx = [i for i, r in enumerate(val) if r in report.eval_rows(val, name)]
        gold = [val[i]["label"] for i in idx]
        got = [pred[i] for i in idx]
        out[name] = round(float(f1_score(gold, got, average="macro")), 4)
    return out


def main() -> None:
    import numpy as np

    from btcpulse.analytics.sentiment_model import LinearSentimentModel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    train.add_student_args(ap)
    args = ap.parse_args()

    root = train.shared_data()
    rows = train.load_labelled(root)
    fit = [r for r in rows if not r["holdout"] and not in_validation(r["text"])]
    val = [r for r in rows if not r["holdout"] and in_validation(r["text"])]
    unl = train.load_unlabelled(root, {r["text"].lower() for r in rows})
    print(f"fit {len(fit)}, validation {len(val)}, unlabelled {len(unl)}", flush=True)
    probs = train.teacher_probs(
        fit, [r["text"] for r in fit] + unl + [r["text"] for r in val], train.TEACHER_EPOCHS
    )
    p_fit, p_unl, p_val = np.split(probs, [len(fit), len(fit) + len(unl)])
    print("teacher", scores(val, [train.CLASSES[i] for i in p_val.argmax(1)]), flush=True)

    texts, targets, weights = train.student_set(fit, p_fit, unl, p_unl, args)
    t0 = time.time()
    coef, intercept, vocab = train.fit_student(
        texts, targets, weights, args.c, train.load_lexicons()
    )
    tag = hashlib.sha256(repr(sorted(vars(args).items())).encode()).hexdigest()[:8]
    artifact = train.CACHE_DIR / f"validation-student-{tag}.npz"  # runs may go side by side
    train.save_artifact(artifact, coef, intercept, vocab, {"version": "validation"})
    model = LinearSentimentModel.from_path(artifact)
    got = scores(val, model.labels([r["text"] for r in val]))
    print(f"student {vars(args)} (fitted in {time.time() - t0:.0f}s)", got, flush=True)


if __name__ == "__main__":
    main()

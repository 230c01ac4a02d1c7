"""The label audit against injected noise: flip a share of a catalog's labels, audit, and
see how many of the flipped labels come first.

    .venv/bin/python benchmarks/accuracy/audit_noise.py [--datasets flipkart20k,cdiscount] [--rate 0.05]
        [--seed 0] [--restore]

Per catalog (paths cut at the detected category depth, as the service audits them): a
seeded ``--rate`` of the labeled products get a wrong label, half a sibling leaf (same
parent, another last level), half a path under another main category (a product with no
sibling leaf gets the second kind). Then:

- **semcat's audit** (:func:`semcat.categorize.audit.audit`'s steps, as `semcat audit`
  runs them): out-of-fold predictions of the default categorizer over the noisy labels,
  cleanlab's confident learning per level, suspects ranked by trust (and, as rows of their
  own, by the other rankings :meth:`LabelScores.trust` knows);
- **cleanlab on TF-IDF + logistic regression**: out-of-fold probabilities (5 folds) of a
  word 1-2-gram TF-IDF + logistic regression (fitted by SGD, one-vs-rest) over the full
  paths, ranked by cleanlab's label quality score;
- **the kNN vote disagrees**: the same out-of-fold neighbors' weighted vote (the
  categorizer's vote power), the products whose most voted path is not their label,
  ranked by the share their label got.

Reported: precision and recall among the top N flagged (N = the number flipped), recall
per kind of flip, and the AUROC of each ranking over every product. ``--restore``: the
default categorizer's out-of-fold accuracy per level (5 folds, as served, judged against
the true labels) trained on the true labels, on the noisy ones, and on the noisy ones with
the audit's top N restored to their true label. The peak memory and the time of the audit
itself are reported. Writes benchmarks/results/audit_noise_<catalog>.json and the tables
in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import catalog, embedded, publish
from semcat.catalog import PATH_JOIN
from semcat.categorize.audit import AUDIT_FOLDS, RANK_BY, audit_options, audit_predictions
from semcat.categorize.calibration import out_of_fold
from semcat.categorize.depth import category_depth
from semcat.categorize.label_evidence import label_scores
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.spaces import DENSE_SPACES

LABELS = {"flipkart20k": "flipkart-20k (product names)", "cdiscount": "cdiscount-50k (French, 3 levels)"}


def flip(paths: list[tuple[str, ...]], rate: float, seed: int) -> tuple[list[tuple[str, ...]], dict[int, str]]:
    """The noisy paths and, per flipped row, its kind ("sibling" or "main")."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(paths), size=round(rate * len(paths)), replace=False)
    known = sorted(set(paths))
    by_parent: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for p in known:
        by_parent.setdefault(p[:-1], []).append(p)
    noisy, kinds = list(paths), {}
    for n, row in enumerate(chosen.tolist()):
        p = paths[row]
        siblings = [q for q in by_parent.get(p[:-1], []) if q != p] if len(p) > 1 else []
        if n % 2 == 0 and siblings:
            noisy[row], kinds[row] = siblings[int(rng.integers(len(siblings)))], "sibling"
        else:
            elsewhere = [q for q in known if q[0] != p[0]]
            noisy[row], kinds[row] = elsewhere[int(rng.integers(len(elsewhere)))], "main"
    return noisy, kinds


def auroc(doubt: np.ndarray, flipped: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(flipped, doubt))


def measure(name: str, doubt: np.ndarray, flagged: np.ndarray, kinds: dict[int, str], n: int) -> dict:
    """Precision / recall of the top N flagged (ordered by ``doubt``, highest first)."""
    order = [i for i in np.argsort(-doubt, kind="stable").tolist() if flagged[i]][:n]
    flipped = set(kinds)
    top = set(order)
    per_kind = {
        kind: round(
            len({i for i in flipped if kinds[i] == kind} & top) / max(1, sum(k == kind for k in kinds.values())), 4
        )
        for kind in ("sibling", "main")
    }
    truth = np.zeros(len(doubt), dtype=bool)
    truth[list(flipped)] = True
    return {
        "method": name,
        "flagged": int(flagged.sum()),
        "precision_at_n": round(len(top & flipped) / max(1, len(order)), 4),
        "recall_at_n": round(len(top & flipped) / len(flipped), 4),
        "recall_per_kind": per_kind,
        "auroc": round(auroc(doubt, truth), 4),
    }


def knn_vote(predictions: list, labels: list[str], power: float) -> tuple[np.ndarray, np.ndarray]:
    """Per product, the share of the neighbors' weighted vote its label got, and whether the
    most voted path is another one."""
    share = np.zeros(len(labels))
    disagree = np.zeros(len(labels), dtype=bool)
    for i, p in enumerate(predictions):
        votes: dict[str, float] = {}
        for n in p.neighbors:
            if n.category and n.space in DENSE_SPACES:
                votes[n.category] = votes.get(n.category, 0.0) + max(n.score, 0.0) ** power
        total = sum(votes.values())
        if total > 0:
            share[i] = votes.get(labels[i], 0.0) / total
            disagree[i] = max(votes, key=lambda c: (votes[c], c)) != labels[i]
    return share, disagree


def tfidf_quality(texts: list[str], labels: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's label quality from TF-IDF + logistic regression out-of-fold
    probabilities, and cleanlab's own flags on them."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import StratifiedKFold

    classes = sorted(set(labels))
    index = {c: k for k, c in enumerate(classes)}
    y = np.asarray([index[label] for label in labels])
    probs = np.zeros((len(labels), len(classes)), dtype=np.float32)
    counts = np.bincount(y, minlength=len(classes))
    strata = np.where(counts[y] >= AUDIT_FOLDS, y, -1)  # rare classes share one stratum
    for train, test in StratifiedKFold(AUDIT_FOLDS, shuffle=True, random_state=seed).split(y, strata):
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=50_000)
        x_train = vectorizer.fit_transform([texts[i] for i in train])
        # logistic regression fitted by SGD, one-vs-rest: with thousands of classes a batch
        # solver holds a weight matrix of classes x features (and liblinear took over 20
        # minutes on flipkart-20k's 3,600 paths)
        model = SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=20, tol=1e-4, random_state=seed, n_jobs=2)
        model.fit(x_train, y[train])
        part = model.predict_proba(vectorizer.transform([texts[i] for i in test]))
        probs[np.ix_(test, model.classes_)] = part
    probs = np.clip(probs, 1e-6, None)
    probs /= probs.sum(axis=1, keepdims=True)
    quality = get_label_quality_scores(y, probs)
    flags = find_label_issues(y, probs, filter_by="prune_by_noise_rate", n_jobs=1)
    return quality, flags


def accuracy(predictions: list, truth: list[tuple[str, ...]], depth: int) -> dict[str, float]:
    out = {}
    for level in range(1, depth + 1):
        out[str(level)] = round(
            float(np.mean([tuple(p.path[:level]) == t[:level] for p, t in zip(predictions, truth, strict=True)])), 4
        )
    out["full"] = round(float(np.mean([tuple(p.path) == t for p, t in zip(predictions, truth, strict=True)])), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="flipkart20k,cdiscount")
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--restore", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    options, head = settings.query_options(), settings.head
    embedder = load_embedder(settings)
    for name in args.datasets.split(","):
        data = embedded(name, catalog(name), embedder)
        depth = category_depth([PATH_JOIN.join(p) for p in data.paths])
        truth = [tuple(p)[:depth] for p in data.paths]
        noisy, kinds = flip(truth, args.rate, args.seed)
        labels = [PATH_JOIN.join(p) for p in noisy]
        n = len(kinds)
        start = time.perf_counter()
        predictions = audit_predictions(data.vectors, data.texts, labels, options, head, depth)
        scores = label_scores(predictions, labels, depth, data.vectors, audit_options(options, depth))
        audit_seconds = time.perf_counter() - start
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"{name}: audited in {audit_seconds:.0f} s, peak {peak_gb:.2f} GB", flush=True)
        rows = []
        for rank_by in (RANK_BY, *(r for r in ("evidence", "conditional", "joint") if r != RANK_BY)):
            trust = scores.trust(rank_by)
            doubt = -np.nan_to_num(trust, nan=1.0)
            suffix = "" if rank_by == RANK_BY else f" (ranked by {rank_by})"
            rows.append(measure(f"semcat audit{suffix}", doubt, scores.flagged > 0, kinds, n))
            print(rows[-1], flush=True)
        start = time.perf_counter()
        quality, flags = tfidf_quality(data.texts, labels, args.seed)
        rows.append(measure("cleanlab on TF-IDF + LR", -quality, flags, kinds, n))
        tfidf_seconds = time.perf_counter() - start
        share, disagree = knn_vote(predictions, labels, options.vote_power)
        rows.append(measure("kNN vote disagrees", -share, disagree, kinds, n))
        result = {
            "catalog": name,
            "products": len(labels),
            "depth": depth,
            "flipped": n,
            "kinds": {k: sum(v == k for v in kinds.values()) for k in ("sibling", "main")},
            "audit_seconds": round(audit_seconds),
            "peak_memory_gb": round(peak_gb, 2),
            "reference_seconds": round(tfidf_seconds),
            "rows": rows,
        }
        if args.restore:
            trust = -np.nan_to_num(scores.trust(RANK_BY), nan=1.0)
            top = [i for i in np.argsort(-trust, kind="stable").tolist() if scores.flagged[i]][:n]
            restored = list(labels)
            for i in top:
                restored[i] = PATH_JOIN.join(truth[i])
            served = options.merged(depth=depth)  # the default categorizer, as the service runs it
            trained = {
                "clean": [PATH_JOIN.join(p) for p in truth],
                "noisy": labels,
                "restored": restored,
            }
            result["restore"] = {
                key: accuracy(out_of_fold(data.vectors, data.texts, given, served, head, 5), truth, depth)
                for key, given in trained.items()
            }
        command = (
            f"python benchmarks/accuracy/audit_noise.py --datasets {name} --rate {args.rate} --seed {args.seed}"
            + (" --restore" if args.restore else "")
        )
        lines = [
            f"{LABELS[name]}: {len(labels):,} labeled products cut at the detected depth ({depth} levels), "
            f"{n:,} labels flipped ({result['kinds']['sibling']:,} to a sibling leaf, {result['kinds']['main']:,} "
            f"under another main category), seed {args.seed}. Command: `{command}`. The audit took "
            f"{audit_seconds / 60:.1f} min (out-of-fold predictions and cleanlab; peak memory of the process "
            f"{peak_gb:.1f} GB); the TF-IDF reference {tfidf_seconds / 60:.1f} min.",
            "",
            "| ranking | flagged | precision@N | recall@N | recall@N, sibling flips | recall@N, other-main flips "
            "| AUROC |",
            "|---|---|---|---|---|---|---|",
            *(
                f"| {r['method']} | {r['flagged']:,} | {r['precision_at_n']:.3f} | {r['recall_at_n']:.3f} | "
                f"{r['recall_per_kind']['sibling']:.3f} | {r['recall_per_kind']['main']:.3f} | {r['auroc']:.3f} |"
                for r in rows
            ),
        ]
        if "restore" in result:
            r = result["restore"]
            levels = [k for k in r["clean"] if k != "full"]
            lines += [
                "",
                "Out-of-fold accuracy of the default categorizer (5 folds), judged against the true labels:",
                "",
                "| trained on | " + " | ".join(f"level {lv}" for lv in levels) + " | full path |",
                "|---|" + "---|" * (len(levels) + 1),
                *(
                    f"| {what} | " + " | ".join(f"{r[key][lv]:.4f}" for lv in [*levels, "full"]) + " |"
                    for what, key in (
                        ("true labels", "clean"),
                        ("noisy labels", "noisy"),
                        ("noisy, top N restored", "restored"),
                    )
                ),
                "",
                "Share of the accuracy the noise cost that restoring the top N recovers: "
                + ", ".join(
                    f"{'full path' if lv == 'full' else 'level ' + lv} "
                    f"{(r['restored'][lv] - r['noisy'][lv]) / max(1e-9, r['clean'][lv] - r['noisy'][lv]):.0%}"
                    for lv in [*levels, "full"]
                )
                + ".",
            ]
        markdown = "\n".join(lines)
        publish(f"audit_noise_{name}", result | {"command": command}, section=f"audit-noise-{name}", markdown=markdown)
        print(markdown, flush=True)


if __name__ == "__main__":
    main()

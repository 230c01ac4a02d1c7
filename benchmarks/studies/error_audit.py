"""Every flipkart-1050 product the default categorizer gets wrong, and who else misses it.

    .venv/bin/python benchmarks/studies/error_audit.py [--mpnet benchmarks/.cache/models/all-mpnet-base-v2]

Answers "how far is 0.97, and is it reachable with what semcat has?" with the errors
themselves rather than an average: stratified 5-fold CV on the main category, seed 0
(the accuracy_levers protocol), the default categorizer (kNN + lexical 0.5 + head 0.7 on
MiniLM) next to the head alone (same store and head per fold), TF-IDF + SVM on the same
text, MiniLM + logistic regression and, when its folder is given (assembled by
get_mpnet.py), the default on all-mpnet-base-v2 vectors. For each product the default
misses: its label, how many training products share its level-3 sub-category, the
prediction, which other methods miss it too, and the closest
labeled product of the predicted main category (cosine, title): the product the vote
followed. The summary counts the products no method gets right (an oracle that picked
the right method per product would still miss those).

Writes benchmarks/results/error_audit.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import dataset, embedded, machine, update_doc_section, write_result
from semcat.catalog import read_catalog
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.evaluation import methods as m
from semcat.evaluation.report import EvalConfig, make_splits

DEFAULT = "default"
HEAD = "head alone"


def main_predictions(data: Any, splits: list, baselines: bool = True) -> dict[str, list[str]]:
    """The out-of-fold main category of every product: the default and the head alone (one
    store and head per fold) and, with ``baselines``, TF-IDF + SVM and logistic regression."""
    names = [DEFAULT, HEAD, *(["tfidf-svm", "logreg"] if baselines else [])]
    out = {name: [""] * len(data) for name in names}
    for train_idx, test_idx in splits:
        train, test = data.subset(train_idx), data.subset(test_idx)
        run = m.knn(train, test, 10, lexical_weight=0.5, head_weight=0.7, variants={HEAD: {"head_weight": 1.0}})
        runs = {DEFAULT: run, HEAD: run.variants[HEAD]}
        if baselines:
            runs["tfidf-svm"] = m.tfidf_svm(train, test, 1)
            runs["logreg"] = m.logreg(train, test, 1)
        for name, r in runs.items():
            for i, path in zip(test_idx, r.predicted, strict=True):
                out[name][i] = path[0] if path else ""
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mpnet", type=Path, help="all-mpnet-base-v2 folder (scripts/get_mpnet.py)")
    args = parser.parse_args()
    products = read_catalog(dataset("flipkart-1050", "flipkart_com-ecommerce_sample_1050.csv")).products
    data = embedded("flipkart1050", products, load_embedder(Settings(model="minilm")))
    splits = make_splits(data, EvalConfig(split="cv", folds=5, seed=0, level=1))
    truth = [p[0] for p in data.paths]
    methods = main_predictions(data, splits)
    if args.mpnet:
        mpnet = embedded("flipkart1050", products, load_embedder(Settings(model=str(args.mpnet))))
        methods["mpnet-base default"] = main_predictions(mpnet, splits, baselines=False)[DEFAULT]
    wrong = {
        name: {i for i, (p, t) in enumerate(zip(pred, truth, strict=True)) if p != t} for name, pred in methods.items()
    }
    for name, w in wrong.items():
        print(f"  {name}: {len(w)} errors", flush=True)
    fold_of = np.zeros(len(data), dtype=int)
    for fold, (_, test_idx) in enumerate(splits):
        fold_of[test_idx] = fold
    rows = []
    for i in sorted(wrong[DEFAULT], key=lambda i: (truth[i], methods[DEFAULT][i], data.texts[i])):
        predicted = methods[DEFAULT][i]
        train_idx = splits[fold_of[i]][0]
        candidates = [j for j in train_idx if truth[j] == predicted]
        sims = data.vectors[candidates] @ data.vectors[i]
        closest = candidates[int(np.argmax(sims))]
        sub = tuple(data.paths[i][:3])
        same_sub = sum(1 for j in train_idx if tuple(data.paths[j][:3]) == sub)
        rows.append(
            {
                "id": data.ids[i],
                "title": data.payloads[i].get("title", ""),
                "label": " > ".join(data.paths[i][:3]),
                "predicted": predicted,
                "also_missed_by": [n for n in methods if n != DEFAULT and i in wrong[n]],
                "same_subcategory_in_training": same_sub,
                "closest_of_predicted": {
                    "title": data.payloads[closest].get("title", ""),
                    "cosine": round(float(sims.max()), 3),
                },
            }
        )
    nobody = set.intersection(*wrong.values())
    result = {
        "machine": machine(),
        "command": "python benchmarks/studies/error_audit.py" + (f" --mpnet {args.mpnet}" if args.mpnet else ""),
        "products": len(data),
        "allowed_errors_for_0.97": int(np.floor(0.03 * len(data))),
        "errors": {name: len(w) for name, w in wrong.items()},
        "right_by_no_method": len(nobody),
        "unseen_subcategory": sum(1 for row in rows if row["same_subcategory_in_training"] == 0),
        "default_errors": rows,
    }
    write_result("error_audit", result)
    render(result)


def render(r: dict[str, Any]) -> None:
    names = list(r["errors"])
    lines = [
        f"Command: `{r['command']}` — {r['machine']['date']}, {r['machine']['cpu']}, {r['machine']['cores']} cores. "
        "flipkart-1050, stratified 5-fold CV on the main category, seed 0 (out-of-fold predictions).",
        "",
        "Errors per method: "
        + ", ".join(f"{n} {c}" for n, c in r["errors"].items())
        + f"; 0.97 allows {r['allowed_errors_for_0.97']}. Products no method gets right: "
        f"**{r['right_by_no_method']}** (an oracle choosing the right method per product would still miss these). "
        f"Errors of the default whose level-3 sub-category has no product in the training folds: "
        f"**{r['unseen_subcategory']}**.",
        "",
        "| label (3 levels) | in training | predicted | title | also missed by | closest of the predicted category |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["default_errors"]:
        others = [n for n in names[1:] if n in row["also_missed_by"]]
        missed = "all" if len(others) == len(names) - 1 else (", ".join(others) or "–")
        closest = row["closest_of_predicted"]
        lines.append(
            f"| {row['label']} | {row['same_subcategory_in_training']} | {row['predicted']} | "
            f"{_cell(row['title'], 60)} | {missed} | "
            f"{_cell(closest['title'], 50)} ({closest['cosine']}) |"
        )
    update_doc_section("error-audit", "\n".join(lines))


def _cell(text: str, width: int) -> str:
    return text[:width].replace("|", "/")


if __name__ == "__main__":
    main()

"""semcat's scikit-learn estimator in ``cross_val_score`` on flipkart-1050, against the
main-category accuracy of ``benchmarks/accuracy/levels.py`` (the same categorizer through
``semcat evaluate``).

    .venv/bin/python benchmarks/accuracy/sklearn_cv.py

Two runs of ``cross_val_score(SemcatClassifier(depth=1), frame, main_categories, cv=...)``:
``cv=5`` as a data scientist would write it (scikit-learn's StratifiedKFold, no shuffle), and
the evaluation's own folds (stratified on the main category, shuffled, seed 0). The frame
holds the products' title, brand, description and attributes columns, which semcat reads
as it reads a catalog. Writes benchmarks/results/sklearn_cv.json and its section of
docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from _common import RESULTS, catalog, publish
from semcat.sklearn import SemcatClassifier


def main() -> None:
    products = catalog("flipkart1050")
    frame = pd.DataFrame(
        {
            "title": [p.title for p in products],
            "brand": [p.brand for p in products],
            "description": [p.description for p in products],
            "attributes": [p.attributes for p in products],
        }
    )
    main_categories = [p.category[0] for p in products]
    texts = [p.text() for p in products]
    reference = json.loads((RESULTS / "levels_flipkart1050.json").read_text())["result"]["methods"]["knn@10"]
    runs = {}
    for name, cv in (
        ("cv=5 (StratifiedKFold, no shuffle)", 5),
        ("the evaluation's folds (stratified, shuffled, seed 0)", StratifiedKFold(5, shuffle=True, random_state=0)),
    ):
        started = time.perf_counter()
        scores = cross_val_score(SemcatClassifier(depth=1), frame, main_categories, cv=cv)
        seconds = time.perf_counter() - started
        # the same folds for a TF-IDF + linear SVM on the same text: how much of a gap is the folds'
        svm = make_pipeline(TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)), LinearSVC())
        reference_scores = cross_val_score(svm, texts, main_categories, cv=cv)
        runs[name] = {
            "accuracy": round(float(scores.mean()), 4),
            "folds": [round(float(s), 4) for s in scores],
            "seconds": round(seconds),
            "tfidf_svm_accuracy": round(float(reference_scores.mean()), 4),
        }
        print(name, runs[name], flush=True)
    levels = reference["level_accuracy"]["1"]
    command = "python benchmarks/accuracy/sklearn_cv.py"
    lines = [
        f"Command: `{command}` — flipkart-1050 (title, brand, description, attributes; 1,050 products), "
        "`cross_val_score(SemcatClassifier(depth=1), frame, main_categories, cv=...)`, MiniLM onnx-int8.",
        "",
        "| folds | main-category accuracy | per fold | minus levels.py's (points) | seconds | TF-IDF + SVM |",
        "|---|---|---|---|---|---|",
        *(
            f"| {name} | {r['accuracy']:.4f} | {', '.join(f'{s:.3f}' for s in r['folds'])} | "
            f"{(r['accuracy'] - levels) * 100:+.2f} | {r['seconds']} | {r['tfidf_svm_accuracy']:.4f} |"
            for name, r in runs.items()
        ),
        "",
        f"`benchmarks/accuracy/levels.py --datasets flipkart1050` (knn@10, level 1): {levels:.4f}.",
    ]
    publish(
        "sklearn_cv", {"runs": runs, "levels_py_level_1": levels, "command": command}, "sklearn-cv", "\n".join(lines)
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()

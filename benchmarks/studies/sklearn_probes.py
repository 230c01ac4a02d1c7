"""Probes that did not become semcat features, on flipkart-1050 (scikit-learn, same folds).

    .venv/bin/python benchmarks/studies/sklearn_probes.py

Stratified 5-fold CV, seed 0, main category, text = title, brand, description (without
the attributes column, as the earlier tables). A linear SVM on [word TF-IDF 1-2-grams,
dense vectors] with:
- MiniLM (shipped) vs multilingual E5-small (needs ``semcat models prepare e5-small
  --models-dir benchmarks/.cache/models``) vs both concatenated;
- main-category labels vs level-2 / level-3 labels, the prediction cut to its main
  category (does a finer target help the head?).

Writes benchmarks/results/sklearn_probes.json.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import ROOT, dataset, embedded, publish
from semcat.catalog import read_catalog
from semcat.config import Settings
from semcat.embedding import load_embedder


def main() -> None:
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    products = read_catalog(dataset("flipkart-1050", "flipkart_com-ecommerce_sample_1050.csv")).products
    products = [dataclasses.replace(p, attributes="") for p in products if p.category]
    texts = [p.text() for p in products]
    main_label = np.array([p.category[0] for p in products])
    minilm = embedded("flipkart1050", products, load_embedder(Settings())).vectors
    e5_settings = Settings(model="e5-small", models_dir=ROOT / "benchmarks" / ".cache" / "models")
    e5 = embedded("flipkart1050", products, load_embedder(e5_settings)).vectors
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(texts, main_label))

    def cv(dense: list[np.ndarray], labels: np.ndarray) -> float:
        accs = []
        for train, test in folds:
            words = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), strip_accents="unicode")
            a = sparse.hstack([words.fit_transform([texts[i] for i in train]), *[d[train] for d in dense]]).tocsr()
            b = sparse.hstack([words.transform([texts[i] for i in test]), *[d[test] for d in dense]]).tocsr()
            predicted = LinearSVC().fit(a, labels[train]).predict(b)
            accs.append(np.mean([p.split(" > ")[0] == t for p, t in zip(predicted, main_label[test], strict=True)]))
        return float(np.mean(accs))

    rows = {
        "words + MiniLM": cv([minilm], main_label),
        "words + E5-small": cv([e5], main_label),
        "words + MiniLM + E5-small": cv([minilm, e5], main_label),
    }
    for level in (2, 3):
        labels = np.array([" > ".join(p.category[:level]) for p in products])
        rows[f"words + MiniLM, level-{level} labels ({len(set(labels))} classes)"] = cv([minilm], labels)
    for name, accuracy in rows.items():
        print(f"{name:48s} {accuracy:.4f}")
    publish(
        "sklearn_probes",
        {
            "command": "python benchmarks/studies/sklearn_probes.py",
            "protocol": "flipkart-1050 without attributes, stratified 5-fold CV seed 0, main-category accuracy",
            "rows": {name: round(accuracy, 4) for name, accuracy in rows.items()},
        },
    )


if __name__ == "__main__":
    main()

"""Zero-shot (no labels) and hybrid vs kNN with few labels, flipkart-1050, MiniLM.

    .venv/bin/python benchmarks/accuracy/zeroshot_hybrid.py

- zero-shot: the 7 main category names only, every product categorized.
- few labels: 5 labeled products per main category indexed (5 random draws, seeds
  0-4), the other 1,015 categorized by kNN (k=10), zero-shot and hybrid (weight 0.5);
  mean ± std over the draws.
- plenty of labels: the 80/20 hold-out (seed 42), same three methods.
Writes benchmarks/results/zeroshot_hybrid.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import dataset, embedded, machine, update_doc_section, write_result
from semcat.catalog import read_catalog
from semcat.categorize import ZeroShotCategorizer, build_categorizer
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.evaluation import LabeledSet, stratified_holdout
from semcat.options import DEFAULTS
from semcat.search import StoreMeta
from semcat.search.faiss import FaissStore


def accuracy(predictions: list, truth: list[str]) -> float:
    return float(np.mean([p.main_category == t for p, t in zip(predictions, truth, strict=True)]))


def compare(data: LabeledSet, train: np.ndarray, test: np.ndarray, zero_shot: ZeroShotCategorizer) -> dict:
    truth = [data.paths[i][0] for i in test]
    with tempfile.TemporaryDirectory() as tmp:
        store = FaissStore(Path(tmp), StoreMeta(model=data.model, spaces={"text": data.vectors.shape[1]}), "flat")
        sub = data.subset(train)
        store.upsert(sub.ids, sub.vectors, sub.payloads)
        queries = data.vectors[test]
        dense = DEFAULTS.merged(lexical_weight=0.0)  # the store holds dense vectors only
        result = {
            method: accuracy(
                build_categorizer(store, dense.merged(method=method), zero_shot=zero_shot).predict(queries), truth
            )
            for method in ("knn", "zero-shot", "hybrid")
        }
        store.close()
    return result


def main() -> None:
    products = read_catalog(dataset("flipkart-1050", "flipkart_com-ecommerce_sample_1050.csv")).products
    embedder = load_embedder(Settings())
    data = embedded("flipkart1050", products, embedder)
    mains = sorted({p[0] for p in data.paths})
    zero_shot = ZeroShotCategorizer(embedder, [(m,) for m in mains])
    labels = np.array([p[0] for p in data.paths])
    zs_all = accuracy(zero_shot.predict(data.vectors), labels.tolist())

    few = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        train = np.concatenate([rng.choice(np.flatnonzero(labels == m), 5, replace=False) for m in mains])
        test = np.setdiff1d(np.arange(len(data)), train)
        few.append(compare(data, train, test, zero_shot))
    few_mean = {k: float(np.mean([f[k] for f in few])) for k in few[0]}
    few_std = {k: float(np.std([f[k] for f in few])) for k in few[0]}

    train_p, test_p = stratified_holdout(products, 0.2, 42)
    index = {pid: i for i, pid in enumerate(data.ids)}
    full = compare(data, np.array([index[p.id] for p in train_p]), np.array([index[p.id] for p in test_p]), zero_shot)

    result = {
        "machine": machine(),
        "command": "python benchmarks/accuracy/zeroshot_hybrid.py",
        "zero_shot_all_1050": round(zs_all, 4),
        "five_per_category": {k: {"mean": round(few_mean[k], 4), "std": round(few_std[k], 4)} for k in few_mean},
        "five_per_category_runs": few,
        "holdout_80_20": {k: round(v, 4) for k, v in full.items()},
    }
    write_result("zeroshot_hybrid", result)
    m = result["machine"]
    lines = [
        "## Zero-shot and hybrid categorization (flipkart-1050, MiniLM)",
        "",
        f"Command: `{result['command']}` — {m['date']}, {m['cpu']}, {m['cores']} cores. "
        "Result file: `benchmarks/results/zeroshot_hybrid.json`.",
        "",
        "Zero-shot: the 7 main category names through 4 prompt templates (averaged), no labeled product. "
        "Hybrid: w × kNN vote share + (1 − w) × zero-shot probability per main category, w = 0.5 "
        "(shrinking towards 0 when the closest labeled neighbor's cosine is below 0.5). Main-category accuracy:",
        "",
        "| labeled products indexed | kNN (k=10) | zero-shot | hybrid |",
        "|---|---|---|---|",
        f"| none (all 1,050 categorized) | – | {zs_all:.4f} | – |",
        "| 5 per category (35; 1,015 categorized; mean ± std of 5 draws) | "
        + " | ".join(f"{few_mean[k]:.4f} ± {few_std[k]:.4f}" for k in ("knn", "zero-shot", "hybrid"))
        + " |",
        "| 80/20 hold-out (840; 210 categorized) | "
        + " | ".join(f"{full[k]:.4f}" for k in ("knn", "zero-shot", "hybrid"))
        + " |",
    ]
    update_doc_section("zeroshot-hybrid", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""What the linear head costs on a large catalog: training, size, and the next process.

    .venv/bin/python benchmarks/performance/head_cost.py [--products 40000] [--repeats 3]

On cdiscount-50k (MiniLM vectors of the default text from the accuracy suite's cache),
a stratified sample of ``--products`` labeled products (seed 0) is indexed into a
temporary FAISS store; then, medians of ``--repeats`` runs:

- training the head as shipped (the main-category SVM and one classifier per taxonomy
  node among its children, every level) vs the main-category SVM alone (``head_levels=1``,
  what semcat trained before): seconds, weights in memory, saved file size;
- what a new process pays before its first categorization: reading the store's labeled
  products, fingerprinting them and loading the saved head (``Engine.head()`` on an
  unchanged store) vs training it again;
- head scoring time per product (batches of 256, character and word rows given).

Writes benchmarks/results/head_cost.json and the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import RESULTS, dataset, embedded, machine, update_doc_section, write_result
from semcat.catalog import Product, read_catalog
from semcat.categorize.head import LinearHead
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.embedding.lexical import LexicalEncoder
from semcat.engine import Engine
from semcat.search import DEFAULT_SPACE
from semcat.spaces import CHAR_SPACE, LEXICAL_SPACE


class CachedEmbedder:
    """Hands the engine the cached vectors of known texts (indexing without re-embedding)."""

    def __init__(self, name: str, by_text: dict[str, np.ndarray]) -> None:
        self.name, self._by_text = name, by_text
        self.dim = len(next(iter(by_text.values())))
        self.supports_images = False

    def encode_texts(self, texts: Any, role: str = "query", batch_size: int | None = None) -> np.ndarray:
        return np.stack([self._by_text[t] for t in texts]).astype(np.float32)

    def encode_images(self, images: Any, batch_size: int | None = None) -> np.ndarray:
        raise NotImplementedError


def weights_mb(head: LinearHead) -> float:
    return round(head.weights_bytes() / 2**20, 1)


def saved_mb(head: LinearHead, folder: Path) -> float:
    path = folder / "head.pkl"
    head.save(path, "measured")
    return round(path.stat().st_size / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=40000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--render", action="store_true", help="only rebuild the docs table from the saved result")
    args = parser.parse_args()
    if args.render:
        render(json.loads((RESULTS / "head_cost.json").read_text()))
        return
    from sklearn.model_selection import train_test_split

    products = [p for p in read_catalog(dataset("cdiscount-50k", "cdiscount_test.csv")).products if p.category]
    embedder = load_embedder(Settings())
    data = embedded("cdiscount", products, embedder)
    keep, _ = train_test_split(
        np.arange(len(products)), train_size=args.products, stratify=data.labels(1), random_state=0
    )
    sample: list[Product] = [products[i] for i in keep]
    by_text = {data.texts[i]: data.vectors[i] for i in keep}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        engine = Engine(settings, embedder=CachedEmbedder(embedder.name, by_text))
        engine.index(sample, progress=False)
        from semcat.categorize.head_data import training_set

        dense, texts, labels = training_set(engine.store(), settings.text_fields)
        words, chars = LexicalEncoder().encode(texts), LexicalEncoder("char").encode(texts)
        fits: dict[str, list[float]] = {"shipped": [], "main": []}
        heads: dict[str, LinearHead] = {}
        for _ in range(args.repeats):
            for name, levels in (("shipped", None), ("main", 1)):
                start = time.perf_counter()
                heads[name] = LinearHead(dense, words, labels, chars=chars, levels=levels)
                fits[name].append(time.perf_counter() - start)
                print(f"  fit {name}: {fits[name][-1]:.1f}s", flush=True)
        query = {DEFAULT_SPACE: dense[:256], LEXICAL_SPACE: words[:256], CHAR_SPACE: chars[:256]}
        scoring = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            heads["shipped"].probabilities(query)
            scoring.append((time.perf_counter() - start) / 256 * 1000)
        # the next process: a fresh engine over the same store (the first one saved its head)
        first, loads, retrains = Engine(settings, embedder=CachedEmbedder(embedder.name, by_text)), [], []
        start = time.perf_counter()
        first.head()
        first_seconds = time.perf_counter() - start
        size_mb = round(first.stats(categories=False).head_path.stat().st_size / 2**20, 1)
        for _ in range(args.repeats):
            fresh = Engine(settings, embedder=CachedEmbedder(embedder.name, by_text))
            start = time.perf_counter()
            fresh.head()
            loads.append(time.perf_counter() - start)
            first.stats(categories=False).head_path.unlink()
            fresh = Engine(settings, embedder=CachedEmbedder(embedder.name, by_text))
            start = time.perf_counter()
            fresh.head()  # no saved head: read, fingerprint, train, save
            retrains.append(time.perf_counter() - start)
        engine.close()
    result = {
        "machine": machine(),
        "command": f"python benchmarks/performance/head_cost.py --products {args.products} --repeats {args.repeats}",
        "products": len(labels),
        "categories": len({label.split(" > ")[0] for label in labels}),
        "leaf_categories": len(set(labels)),
        "node_classifiers": len(heads["shipped"].local),
        "fit_seconds": {k: round(statistics.median(v), 1) for k, v in fits.items()},
        "weights_mb": {k: weights_mb(h) for k, h in heads.items()},
        "file_mb": {k: saved_mb(h, Path(tmp)) for k, h in heads.items()},
        "score_ms_per_product": round(statistics.median(scoring), 3),
        "saved_file_mb": size_mb,
        "first_engine_head_seconds": round(first_seconds, 1),
        "next_process_load_seconds": round(statistics.median(loads), 1),
        "next_process_retrain_seconds": round(statistics.median(retrains), 1),
    }
    write_result("head_cost", result)
    print(result)
    render(result)


def render(r: dict[str, Any]) -> None:
    m = r["machine"]
    fit, mb, file_mb = r["fit_seconds"], r["weights_mb"], r["file_mb"]
    lines = [
        f"Command: `{r['command']}` — {m['date']}, {m['cpu']}, {m['cores']} cores. "
        f"cdiscount-50k sample: {r['products']} labeled products, {r['categories']} main categories, "
        f"{r['leaf_categories']} leaf paths, MiniLM vectors, words + characters. Medians of the repeats.",
        "",
        "| | main category only (before, `SEMCAT_HEAD_LEVELS=1`) | every level (shipped) | ratio |",
        "|---|---|---|---|",
        f"| classifiers | 1 (main category) | 1 + {r['node_classifiers']} (one per node with several children) | |",
        f"| training (features built, SVMs fitted) | {fit['main']} s | {fit['shipped']} s | "
        f"{fit['shipped'] / fit['main']:.2f}x |",
        f"| weights in memory | {mb['main']} MB | {mb['shipped']} MB | {mb['shipped'] / mb['main']:.2f}x |",
        f"| saved file | {file_mb['main']} MB | {file_mb['shipped']} MB | "
        f"{file_mb['shipped'] / file_mb['main']:.2f}x |",
        "",
        f"Scoring {r['score_ms_per_product']} ms per product (main category). A new process over the "
        f"unchanged store (the next `semcat categorize`, an API restart) has its head in "
        f"**{r['next_process_load_seconds']} s** (read the labeled products, fingerprint them, load) "
        f"instead of **{r['next_process_retrain_seconds']} s** (read, train, save).",
    ]
    if r.get("note"):
        lines += ["", f"Note: {r['note']}"]
    update_doc_section("head-cost", "\n".join(lines))


if __name__ == "__main__":
    main()

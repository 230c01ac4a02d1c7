"""Bulk indexing throughput of each text backend against plain fp32
`SentenceTransformer.encode` on the same texts, same model, in the same run.

    .venv/bin/python benchmarks/performance/indexing_throughput.py [--products 4000] [--runs 3]

The baseline only embeds (`model.encode(texts, batch_size=64)`, the notebook way, fp32
torch). Each semcat row is the whole job (read products, hash, embed in batches, write
vectors and payloads to the FAISS store, save the index) with one backend: `onnx-int8`
(the default), `onnx` (fp32) and `torch`. A second `semcat index` over the same catalog
(nothing changed) is timed too. Runs interleave the jobs; each figure is the median of
--runs runs, and each ratio is median baseline seconds / median job seconds.
Writes benchmarks/results/indexing_throughput.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import dataset, machine, update_doc_section, write_result
from semcat.catalog import read_catalog
from semcat.config import Settings
from semcat.embedding import load_embedder, resolve_model
from semcat.engine import Engine

BACKENDS = ("onnx-int8", "onnx", "torch")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    products = read_catalog(dataset("cdiscount-50k", "cdiscount_test.csv")).products[: args.products]
    texts = [p.text() for p in products]
    settings = Settings()
    model = SentenceTransformer(resolve_model(settings.model).source, device="cpu")
    model.max_seq_length = settings.max_tokens
    embedders = {b: load_embedder(settings.model_copy(update={"backend": b})) for b in BACKENDS}
    model.encode(texts[:64], batch_size=64)  # warm-up
    for embedder in embedders.values():
        embedder.encode_texts(texts[:64])

    plain: list[float] = []
    jobs: dict[str, list[float]] = {b: [] for b in BACKENDS}
    rerun: list[float] = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        plain.append(time.perf_counter() - t0)
        for backend, embedder in embedders.items():
            with tempfile.TemporaryDirectory() as tmp:
                run_settings = settings.model_copy(update={"data_dir": Path(tmp), "backend": backend})
                with Engine(run_settings, embedder=embedder) as engine:
                    t0 = time.perf_counter()
                    summary = engine.index(products, progress=False)
                    jobs[backend].append(time.perf_counter() - t0)
                    assert summary.embedded == len(products)
                    if backend == BACKENDS[0]:
                        t0 = time.perf_counter()
                        again = engine.index(products, progress=False)
                        rerun.append(time.perf_counter() - t0)
                        assert again.embedded == 0

    n = len(products)
    base = statistics.median(plain)
    result = {
        "machine": machine(),
        "command": f"python benchmarks/performance/indexing_throughput.py --products {n} --runs {args.runs}",
        "texts": f"first {n} cdiscount-50k products, title + brand + description, "
        f"{sum(map(len, texts)) / n:.0f} chars on average; MiniLM, {settings.max_tokens}-token budget, batch 64",
        "plain_encode_seconds": [round(x, 2) for x in plain],
        "plain_products_per_s": round(n / base, 1),
        "semcat_index_seconds": {b: [round(x, 2) for x in v] for b, v in jobs.items()},
        "semcat_products_per_s": {b: round(n / statistics.median(v), 1) for b, v in jobs.items()},
        "ratio_vs_plain": {b: round(base / statistics.median(v), 2) for b, v in jobs.items()},
        "semcat_rerun_seconds": [round(x, 3) for x in rerun],
    }
    write_result("indexing_throughput", result)
    m = result["machine"]
    lines = [
        "## Bulk indexing throughput",
        "",
        f"Command: `{result['command']}` — {m['date']}, {m['cpu']}, {m['cores']} cores, torch {m['torch']}. "
        "Result file: `benchmarks/results/indexing_throughput.json`.",
        "",
        f"Texts: {result['texts']}. Median of {args.runs} interleaved runs, all in the same process.",
        "",
        "| job | seconds (median) | products/s | vs baseline |",
        "|---|---|---|---|",
        f"| fp32 `SentenceTransformer.encode` only (baseline) | {base:.1f} | {result['plain_products_per_s']} "
        "| 1.00x |",
    ]
    for backend in BACKENDS:
        default = " (default)" if backend == settings.backend else ""
        lines.append(
            f"| `semcat index`, backend `{backend}`{default} (hash, embed, store in FAISS + SQLite, save) | "
            f"{statistics.median(jobs[backend]):.1f} | {result['semcat_products_per_s'][backend]} | "
            f"{result['ratio_vs_plain'][backend]:.2f}x |"
        )
    lines += [
        f"| `semcat index` again, nothing changed | {statistics.median(rerun):.2f} | – | – |",
        "",
        "`onnx-int8` is the model exported once to ONNX with int8 weights (semcat.embedding.onnx), its batches "
        "sorted by token count and spread over the cores one thread each; `onnx` is the same graph in fp32 "
        "(the torch vectors to 1e-7); `torch` is sentence-transformers itself inside semcat.",
    ]
    update_doc_section("indexing-throughput", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

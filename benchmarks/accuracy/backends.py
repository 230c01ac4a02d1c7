"""The default categorizer's accuracy at every level with each text backend, same folds.

    .venv/bin/python benchmarks/accuracy/backends.py [--datasets flipkart1050,flipkart20k,cdiscount]
        [--backends onnx-int8,torch]

Same protocol as levels.py (stratified 5-fold CV, seed 0, ``--level all``), the default
categorizer only, once per backend: the vectors of each backend are embedded (and cached
under benchmarks/.cache by the model name they carry: int8 vectors are named
``...@int8``), then evaluated on identical folds. A backend whose figures are already in
``results/levels_<catalog>.json`` (torch, measured by levels.py) is read from there
instead of re-run. Writes benchmarks/results/backends.json and its table in
docs/benchmarks.md, with the embedding seconds of each backend (whole catalog).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import RESULTS, catalog, embedded, publish
from accuracy.levels import LABELS, eval_config
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.evaluation import run_evaluation

METHOD = "knn@10"


def per_level(name: str, backend: str) -> tuple[dict[str, float], float | None, str]:
    """Accuracy per level (and full path) of the default categorizer with one backend."""
    stored = RESULTS / f"levels_{name}.json"
    if backend == "torch" and stored.exists():
        saved = json.loads(stored.read_text())
        scores = {lvl: s[METHOD]["accuracy"] for lvl, s in saved["result"]["per_level"].items() if METHOD in s}
        return scores, saved["result"].get("embed_seconds"), f"results/levels_{name}.json ({saved['command']})"
    embedder = load_embedder(Settings(backend=backend))
    data = embedded(name, catalog(name), embedder)
    config = eval_config(name, ("knn",))
    (result,) = run_evaluation([data], config, None, progress=True)
    scores = {lvl: s[METHOD]["accuracy"] for lvl, s in result["per_level"].items() if METHOD in s}
    return scores, data.embed_seconds, "this run"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="flipkart1050,flipkart20k,cdiscount")
    parser.add_argument("--backends", default="onnx-int8,torch")
    args = parser.parse_args()
    backends = args.backends.split(",")
    rows = {}
    for name in args.datasets.split(","):
        rows[name] = {}
        for backend in backends:
            start = time.perf_counter()
            scores, embed_seconds, source = per_level(name, backend)
            rows[name][backend] = {
                "accuracy": scores,
                "embed_seconds": embed_seconds,
                "source": source,
                "seconds": round(time.perf_counter() - start),
            }
            print(name, backend, scores, flush=True)
    levels = ["1", "2", "3", "full"]
    lines = [
        "## Text encoder backends: accuracy at every level",
        "",
        "Default categorizer (`knn@10`: vote + per-level head), stratified 5-fold CV seed 0, every level, "
        f"with each text backend on the same folds. Command: `python benchmarks/accuracy/backends.py "
        f"--datasets {args.datasets} --backends {args.backends}`.",
        "",
        "| catalog | backend | level 1 | level 2 | level 3 | full path | embedding s (whole catalog) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, per_backend in rows.items():
        for backend, row in per_backend.items():
            cells = [f"{row['accuracy'][lvl]:.4f}" if lvl in row["accuracy"] else "–" for lvl in levels]
            seconds = f"{row['embed_seconds']:.0f}" if row["embed_seconds"] else "–"
            lines.append(f"| {LABELS[name].split(' (')[0]} | `{backend}` | {' | '.join(cells)} | {seconds} |")
    if len(backends) == 2:
        gaps = []
        for name, per_backend in rows.items():
            a, b = (per_backend[x]["accuracy"] for x in backends)
            worst = max((abs(a[lvl] - b[lvl]) for lvl in a if lvl in b), default=0.0)
            gaps.append(f"{LABELS[name].split(' (')[0]} {100 * worst:.2f}")
        gap = f"Largest gap between `{backends[0]}` and `{backends[1]}` at any level, points: "
        lines += ["", gap + ", ".join(gaps) + "."]
    lines += [
        "Embedding seconds come from each backend's own run (torch: levels.py's, with other jobs sharing the "
        'cores at times): indicative only; the throughput ratio measured in one run is in "Bulk indexing '
        'throughput".'
    ]
    publish("backends", {"rows": rows}, section="backends-accuracy", markdown="\n".join(lines))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()

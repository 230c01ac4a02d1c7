"""Run the evaluation protocol over one or more labeled sets and write the report.

Protocol: stratified hold-out (default 80/20, seed 42) or stratified k-fold CV; every
method sees the same splits; held-out products are categorized against the training
part only. Outputs: ``report.md``, ``metrics.json``, a confusion-matrix PNG and a
t-SNE PNG per model.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semcat.errors import ConfigError
from semcat.evaluation import methods as m
from semcat.evaluation.data import LabeledSet
from semcat.evaluation.holdout import HOLDOUT_SEED, HOLDOUT_TEST_SIZE
from semcat.evaluation.metrics import (
    classification_scores,
    cut,
    kmeans_ari,
    level_accuracy,
    report_dict,
    tsne_kmeans,
)
from semcat.options import DEFAULTS, HEAD_DEFAULTS, HeadOptions, QueryOptions

REFERENCE_NOTE = (
    "Reference figures (flipkart-1050, 80/20 split, from the reference studies): MiniLM + logistic regression "
    "0.9476 accuracy, KMeans ARI 0.7119; CLIP text+image 0.9667; bert-base-uncased 0.93 accuracy, ARI 0.3095; "
    "E5-large-v2 ARI 0.3595."
)


@dataclass
class EvalConfig:
    split: str = "holdout"  # or "cv"
    test_size: float = HOLDOUT_TEST_SIZE
    folds: int = 5
    seed: int = HOLDOUT_SEED
    level: int | None = 1  # the label evaluated: category cut at this level (None: full path)
    k_grid: tuple[int, ...] = (5, 10, 20)
    methods: tuple[str, ...] = ("knn", "logreg", "tfidf")
    ari: bool = True
    ari_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    tsne: bool = True
    tsne_max: int = 5000
    max_level: int = 3
    # the categorizer measured as knn@k: the service's options (Settings.query_options()),
    # built by the same builder; only k varies over k_grid
    options: QueryOptions = DEFAULTS
    head: HeadOptions = HEAD_DEFAULTS
    plots: bool = True
    test_ids: frozenset[str] | None = None  # a given held-out set instead of a random split

    def __post_init__(self) -> None:
        method_names(self.methods, self.k_grid)  # an unknown method fails here, before any embedding


def _stratify_on(data: LabeledSet, level: int | None, needed: int) -> np.ndarray | None:
    """Stratify on the evaluated label if every class has ``needed`` members, else on
    the main category, else not at all."""
    for labels in (data.labels(level), data.labels(1)):
        if min(Counter(labels).values()) >= needed:
            return labels
    return None


def make_splits(data: LabeledSet, config: EvalConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    index = np.arange(len(data))
    if config.test_ids is not None:
        is_test = np.array([i in config.test_ids for i in data.ids])
        if not is_test.any() or is_test.all():
            raise ValueError("test_ids must name some, but not all, of the products")
        return [(index[~is_test], index[is_test])]
    if config.split == "cv":
        strat = _stratify_on(data, config.level, config.folds)
        splitter = (
            StratifiedKFold(config.folds, shuffle=True, random_state=config.seed)
            if strat is not None
            else KFold(config.folds, shuffle=True, random_state=config.seed)
        )
        return [(tr, te) for tr, te in splitter.split(index, strat if strat is not None else index)]
    strat = _stratify_on(data, config.level, 2)
    train, test = train_test_split(index, test_size=config.test_size, random_state=config.seed, stratify=strat)
    return [(np.sort(train), np.sort(test))]


EVAL_METHODS = ("knn", "logreg", "tfidf")


def method_names(methods: Sequence[str], k_grid: Sequence[int]) -> list[str]:
    """The runs a method list asks for (``knn`` once per k); an unknown name is a
    :class:`~semcat.errors.ConfigError` naming the known ones."""
    names: list[str] = []
    for method in methods:
        if method == "knn":
            names += [f"knn@{k}" for k in k_grid]
        elif method == "logreg":
            names.append("logreg")
        elif method in ("tfidf", "tfidf-svm"):
            names.append("tfidf-svm")
        else:
            raise ConfigError(f"unknown method {method!r}: use {', '.join(EVAL_METHODS)} (comma-separated)")
    if not names:
        raise ConfigError(f"no method to evaluate: use {', '.join(EVAL_METHODS)}")
    return names


def _deepest(name: str, config: EvalConfig) -> int:
    """Levels a method predicts: the vote the whole path, a classifier its label's depth."""
    if name.startswith("knn@") or config.level is None:
        return config.max_level
    return min(config.max_level, config.level)


def _run_method(name: str, train: LabeledSet, test: LabeledSet, config: EvalConfig) -> m.MethodRun:
    if name.startswith("knn@"):
        return m.knn(train, test, int(name[4:]), config.options, config.head)
    if name == "logreg":
        return m.logreg(train, test, config.level)
    return m.tfidf_svm(train, test, config.level)


def evaluate_set(data: LabeledSet, config: EvalConfig, progress: bool = True) -> dict[str, Any]:
    """All methods over all splits of one labeled set, plus clustering metrics."""
    if len(data) < 10:
        raise ValueError(f"only {len(data)} labeled products: too few to evaluate")
    splits = make_splits(data, config)
    names = method_names(config.methods, config.k_grid)
    true_paths = data.paths
    oof: dict[str, list[tuple[str, ...] | None]] = {n: [None] * len(data) for n in names}
    per_fold: dict[str, list[float]] = {n: [] for n in names}
    timing: dict[str, list[float]] = {n: [0.0, 0.0] for n in names}
    leaks: dict[str, int] = dict.fromkeys(names, 0)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(splits) * len(names), desc=f"evaluating ({data.model})", unit="run", leave=False)
    for train_idx, test_idx in splits:
        train, test = data.subset(train_idx), data.subset(test_idx)
        truth = cut(test.paths, config.level)
        for name in names:
            run = _run_method(name, train, test, config)
            for row, path in zip(test_idx, run.predicted, strict=True):
                oof[name][row] = path
            per_fold[name].append(float(np.mean(cut(run.predicted, config.level) == truth)))
            timing[name][0] += run.fit_seconds
            timing[name][1] += run.predict_seconds
            leaks[name] += run.leaks
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()

    tested = sorted({int(i) for _, te in splits for i in te})
    truth_paths = [true_paths[i] for i in tested]
    truth = cut(truth_paths, config.level)
    results: dict[str, Any] = {}
    for name in names:
        predicted_paths = [oof[name][i] for i in tested]
        scores = classification_scores(truth, cut(predicted_paths, config.level))  # type: ignore[arg-type]
        results[name] = {
            **{k: round(v, 4) for k, v in scores.items()},
            "accuracy_folds": [round(a, 4) for a in per_fold[name]],
            "accuracy_std": round(float(np.std(per_fold[name])), 4),
            "level_accuracy": {
                str(k): round(v, 4)
                for k, v in level_accuracy(truth_paths, predicted_paths, _deepest(name, config)).items()  # type: ignore[arg-type]
            },
            "fit_seconds": round(timing[name][0], 2),
            "predict_seconds": round(timing[name][1], 2),
            "held_out_neighbors": leaks[name],
        }
    best = max(names, key=lambda n: results[n]["accuracy"])
    best_pred = cut([oof[best][i] for i in tested], config.level)  # type: ignore[misc]
    labels_sorted = sorted(set(truth) | set(best_pred))
    out: dict[str, Any] = {
        "model": data.model,
        "products": len(data),
        "classes": len(set(data.labels(config.level))),
        "evaluated": len(tested),
        "split": (
            f"given held-out set of {len(tested)} products"
            if config.test_ids is not None
            else f"stratified {config.folds}-fold CV, seed {config.seed}"
            if config.split == "cv"
            else f"stratified hold-out {1 - config.test_size:.0%}/{config.test_size:.0%}, seed {config.seed}"
        ),
        "level": config.level,
        "embed_seconds": round(data.embed_seconds, 2),
        "products_per_second": round(len(data) / data.embed_seconds, 1) if data.embed_seconds else None,
        "methods": results,
        "best_method": best,
        "classification_report": report_dict(truth, best_pred),
    }
    if len(labels_sorted) <= 60:
        from sklearn.metrics import confusion_matrix

        out["confusion_matrix"] = {
            "labels": labels_sorted,
            "matrix": confusion_matrix(truth, best_pred, labels=labels_sorted).tolist(),
        }
    labels_all = data.labels(config.level)
    n_classes = len(set(labels_all))
    if config.ari and n_classes >= 2:
        t0 = time.perf_counter()
        out["kmeans_ari"] = kmeans_ari(data.vectors, labels_all, n_classes, config.ari_seeds)
        out["kmeans_ari"]["seconds"] = round(time.perf_counter() - t0, 2)
    if config.tsne and n_classes >= 2:
        out["_tsne"] = tsne_kmeans(data.vectors, labels_all, n_classes, config.tsne_max)
        out["tsne_kmeans_ari"] = {"ari": round(out["_tsne"]["ari"], 4), "points": out["_tsne"]["n"]}
    return out


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")[:60]


def _plots(result: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: list[str] = []
    slug = _slug(result["model"])
    if "confusion_matrix" in result:
        labels = result["confusion_matrix"]["labels"]
        matrix = np.asarray(result["confusion_matrix"]["matrix"])
        size = max(6, 0.45 * len(labels) + 3)
        fig, ax = plt.subplots(figsize=(size, size))
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), [lb[:30] for lb in labels], rotation=70, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), [lb[:30] for lb in labels], fontsize=8)
        if len(labels) <= 20:
            for (i, j), v in np.ndenumerate(matrix):
                if v:
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{result['best_method']} — {result['model']}")
        fig.tight_layout()
        name = f"confusion_{slug}.png"
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        files.append(name)
    if "_tsne" in result:
        tsne = result["_tsne"]
        fig, axes = plt.subplots(1, 2, figsize=(14, 6.5))
        classes = sorted(set(tsne["labels"]))
        colors = {c: i for i, c in enumerate(classes)}
        cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
        for c in classes:
            mask = tsne["labels"] == c
            axes[0].scatter(*tsne["points"][mask].T, s=5, color=cmap(colors[c] % cmap.N), label=str(c)[:28])
        if len(classes) <= 20:
            axes[0].legend(fontsize=7, markerscale=3, loc="best")
        axes[0].set_title("t-SNE, colored by true category")
        axes[1].scatter(*tsne["points"].T, s=5, c=tsne["clusters"], cmap=cmap)
        axes[1].set_title(f"colored by KMeans cluster on the 2-D points (ARI {tsne['ari']:.3f})")
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(result["model"])
        fig.tight_layout()
        name = f"tsne_{slug}.png"
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        files.append(name)
    return files


def _markdown(results: Sequence[dict[str, Any]], config: EvalConfig, title: str) -> str:
    lines = [f"# {title}", ""]
    first = results[0]
    level = "full path" if config.level is None else f"level {config.level}"
    lines += [
        f"Split: {first['split']}. Label: category at {level} ({first['classes']} classes). "
        f"Products: {first['products']}.",
        "",
        "| model | method | accuracy | ± (folds) | macro F1 | weighted F1 | "
        + " | ".join(f"level {k}" for k in range(1, config.max_level + 1))
        + " | fit s | predict s |",
        "|---|---|---|---|---|---|" + "---|" * config.max_level + "---|---|",
    ]
    for result in results:
        for name, r in result["methods"].items():
            levels = " | ".join(str(r["level_accuracy"].get(str(k), "")) for k in range(1, config.max_level + 1))
            lines.append(
                f"| {result['model']} | {name} | {r['accuracy']:.4f} | {r['accuracy_std']:.4f} | {r['macro_f1']:.4f} | "
                f"{r['weighted_f1']:.4f} | {levels} | {r['fit_seconds']} | {r['predict_seconds']} |"
            )
    lines += ["", "| model | embedding s | products/s | KMeans ARI (vectors) | KMeans ARI on 2-D t-SNE (separate) |"]
    lines.append("|---|---|---|---|---|")
    for result in results:
        ari = result.get("kmeans_ari")
        ari_text = f"{ari['mean']:.4f} ± {ari['std']:.4f} (k={ari['k']}, {len(ari['per_seed'])} seeds)" if ari else "-"
        tsne = result.get("tsne_kmeans_ari")
        tsne_text = f"{tsne['ari']:.4f} ({tsne['points']} points)" if tsne else "-"
        lines.append(
            f"| {result['model']} | {result['embed_seconds'] or '-'} | {result['products_per_second'] or '-'} | "
            f"{ari_text} | {tsne_text} |"
        )
    for result in results:
        leaks = sum(r["held_out_neighbors"] for r in result["methods"].values())
        lines += ["", f"## {result['model']}: {result['best_method']} per category", ""]
        lines.append(f"Held-out products among the neighbors of held-out products: {leaks}.")
        lines += ["", "| category | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        report = result["classification_report"]
        for label, row in report.items():
            if isinstance(row, dict) and label not in ("macro avg", "weighted avg"):
                lines.append(
                    f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1-score']:.3f} | "
                    f"{int(row['support'])} |"
                )
        for name in result.get("plots", []):
            lines += ["", f"![{name}]({name})"]
    lines += ["", REFERENCE_NOTE, ""]
    return "\n".join(lines)


def run_evaluation(
    sets: Sequence[LabeledSet],
    config: EvalConfig,
    out_dir: str | Path | None = None,
    progress: bool = True,
    title: str = "semcat evaluation",
) -> list[dict[str, Any]]:
    """Evaluate each set (one per model) and, with ``out_dir``, write the report there."""
    results = [evaluate_set(data, config, progress) for data in sets]
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for result in results:
            result["plots"] = _plots(result, out) if config.plots else []
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]
        (out / "metrics.json").write_text(
            json.dumps({"config": asdict(config), "results": clean}, indent=2, ensure_ascii=False, default=str) + "\n"
        )
        (out / "report.md").write_text(_markdown(clean, config, title))
    for result in results:
        result.pop("_tsne", None)
    return results


def results_frame(results: Sequence[dict[str, Any]]) -> Any:
    """The methods' scores of :func:`run_evaluation` as a ``pandas.DataFrame``: one row per
    model and method, with accuracy, macro-F1, their spread over folds, per-level accuracy
    (``level_1``, ``level_2``, ...) and timings."""
    import pandas as pd

    rows = []
    for result in results:
        for name, scores in result["methods"].items():
            row = {"model": result["model"], "method": name}
            row |= {k: v for k, v in scores.items() if not isinstance(v, dict | list)}
            row |= {f"level_{level}": acc for level, acc in scores.get("level_accuracy", {}).items()}
            rows.append(row)
    return pd.DataFrame(rows)

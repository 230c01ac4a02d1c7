"""Run the evaluation protocol over one or more labeled sets and write the report.

Protocol: stratified hold-out (default 80/20, seed 42) or stratified k-fold CV; every
method sees the same splits; held-out products are categorized against the training
part only. Outputs: ``report.md``, ``metrics.json``, a confusion-matrix PNG and a
t-SNE PNG per model; with ``confidence``, how far the confidence holds (coverage at a
precision, calibration error, a reliability diagram).

Long module: the protocol runs every method over the same splits and scores them in one
pass (accuracy per level, the confidence report); split, the scoring would repeat the
bookkeeping of which product was held out where.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from semcat.categorize.depth import category_depth
from semcat.categorize.zeroshot import ZeroShotCategorizer
from semcat.errors import ConfigError
from semcat.evaluation import confidence as cs
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
from semcat.evaluation.render import markdown, plots
from semcat.methods import KNN, METHODS, REGISTRY
from semcat.options import (
    CALIBRATION_DEFAULTS,
    DEFAULTS,
    HEAD_DEFAULTS,
    ZERO_SHOT_DEFAULTS,
    HeadOptions,
    QueryOptions,
    ZeroShotOptions,
)


@dataclass
class EvalConfig:
    split: str = "holdout"  # or "cv"
    test_size: float = HOLDOUT_TEST_SIZE
    folds: int = 5
    seed: int = HOLDOUT_SEED
    level: int | None = 1  # the label evaluated: category cut at this level (None: full path)
    per_level: bool = False  # also every level 1..max_level and the full path, flat baselines retrained at each
    full_path: bool = True  # with per_level: score the full path too (off where the leaves name products)
    k_grid: tuple[int, ...] = (5, 10, 20)
    methods: tuple[str, ...] = (KNN, "logreg", "tfidf")
    ari: bool = True
    ari_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    tsne: bool = True
    tsne_max: int = 5000
    max_level: int = 3
    # the categorizer measured as knn@k: the service's options (Settings.query_options()),
    # built by the same builder; only k varies over k_grid
    options: QueryOptions = DEFAULTS
    head: HeadOptions = HEAD_DEFAULTS
    zero_shot: ZeroShotOptions = ZERO_SHOT_DEFAULTS
    plots: bool = True
    test_ids: frozenset[str] | None = None  # a given held-out set instead of a random split
    # the confidence a catalog team acts on: the default categorizer as served (paths cut at
    # the labels' category depth, calibrated on each training part) and TF-IDF + SVM
    # calibrated by CalibratedClassifierCV; coverage at precision, ECE, reliability
    confidence: bool = True
    calibration_folds: int | None = CALIBRATION_DEFAULTS.folds

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


# the served methods (semcat.methods) and the flat baselines only the evaluation runs
EVAL_METHODS = (KNN, "logreg", "tfidf", *(name for name in METHODS if name != KNN))
FLAT_METHODS = ("logreg", "tfidf-svm")  # classifiers trained on one level's labels (the others predict paths)


def method_names(methods: Sequence[str], k_grid: Sequence[int]) -> list[str]:
    """The runs a method list asks for (``knn`` once per k); an unknown name is a
    :class:`~semcat.errors.ConfigError` naming the known ones."""
    names: list[str] = []
    for method in methods:
        if method == KNN:
            names += [f"{KNN}@{k}" for k in k_grid]
        elif method == "logreg":
            names.append("logreg")
        elif method in ("tfidf", "tfidf-svm"):
            names.append("tfidf-svm")
        elif method in REGISTRY:
            names.append(method)
        else:
            raise ConfigError(f"unknown method {method!r}: use {', '.join(EVAL_METHODS)} (comma-separated)")
    if not names:
        raise ConfigError(f"no method to evaluate: use {', '.join(EVAL_METHODS)}")
    return names


def _prompted(name: str) -> bool:
    """Whether the run ``name`` is a served method that reads the zero-shot prior."""
    return name in REGISTRY and REGISTRY[name].zero_shot


def _deepest(name: str, level: int | None, config: EvalConfig) -> int:
    """Levels a method predicts: a path method the whole path, a classifier its label's depth."""
    if name not in FLAT_METHODS or level is None:
        return config.max_level
    return min(config.max_level, level)


def evaluated_levels(data: LabeledSet, config: EvalConfig) -> list[int | None]:
    """The labels scored: ``config.level``, or with ``per_level`` each level the catalog has
    (up to ``max_level``) and the full path."""
    if not config.per_level:
        return [config.level]
    depth = min(config.max_level, max(len(p) for p in data.paths))
    return [*range(1, depth + 1), *([None] if config.full_path else [])]


def _prompts(data: LabeledSet, levels: Sequence[int | None], config: EvalConfig) -> ZeroShotCategorizer:
    """Zero-shot's categories: the catalog's paths (the taxonomy a user would give in
    ``SEMCAT_TAXONOMY_FILE``) cut at the deepest level evaluated (``max_level`` for the full
    path: some catalogs' deepest "levels" are product names, which would hand zero-shot the
    products' own titles as prompts); prompts embedded once by the set's model."""
    if data.encoder is None:
        raise ConfigError("the zero-shot and hybrid methods need the model that embedded the products")
    deepest = max((lv or config.max_level) for lv in levels)
    depth = max(min(deepest, config.max_level), config.zero_shot.level)
    categories = sorted({p[:depth] for p in data.paths})
    return ZeroShotCategorizer(data.encoder, categories, temperature=config.zero_shot.temperature)


def _run_method(
    name: str, train: LabeledSet, test: LabeledSet, config: EvalConfig, level: int | None, prompts: Any
) -> m.MethodRun:
    if name.startswith(f"{KNN}@"):
        return m.knn(
            train,
            test,
            int(name[4:]),
            config.options,
            config.head,
            confidence=config.confidence,
            folds=config.calibration_folds,
        )
    if name in REGISTRY:  # a served method other than the vote with the head (knn@k above)
        return m.served(train, test, prompts if _prompted(name) else None, name, config.options)
    if name == "logreg":
        return m.logreg(train, test, level)
    return m.tfidf_svm(train, test, level, confidence=config.confidence)


def _cut_at_category_depth(data: LabeledSet) -> tuple[LabeledSet, int]:
    """The set with its paths cut at the labels' category depth (levels below it name
    products, not categories: :func:`semcat.categorize.depth.category_depth`), as served."""
    depth = category_depth(data.labels(None)) or 1
    if max(len(p) for p in data.paths) <= depth:
        return data, depth
    return replace(data, paths=[tuple(p)[:depth] for p in data.paths]), depth


def _level_name(level: int | None) -> str:
    return "full" if level is None else str(level)


def evaluate_set(data: LabeledSet, config: EvalConfig, progress: bool = True) -> dict[str, Any]:
    """All methods over all splits of one labeled set, plus clustering metrics. A path
    method (the kNN vote, zero-shot, hybrid) runs once per split and is scored at every
    evaluated level; a flat classifier is trained once per split and level."""
    if len(data) < 10:
        raise ValueError(f"only {len(data)} labeled products: too few to evaluate")
    served_depth = None
    if config.confidence:
        data, served_depth = _cut_at_category_depth(data)
    levels = evaluated_levels(data, config)
    if config.level not in levels:  # per level without the full path: the deepest level is the headline
        config = replace(config, level=levels[-1])
    splits = make_splits(data, config)
    names = method_names(config.methods, config.k_grid)
    prompts = _prompts(data, levels, config) if any(_prompted(n) for n in names) else None
    true_paths = data.paths
    trained_at = list(dict.fromkeys([config.level, *levels]))  # a flat classifier's label levels
    runs = [(n, lv) for n in names for lv in (trained_at if n in FLAT_METHODS else [config.level])]
    oof: dict[tuple[str, int | None], list[tuple[str, ...] | None]] = {r: [None] * len(data) for r in runs}
    confidences: dict[tuple[str, int | None], list[Any]] = {}  # per run: each product's confidence(s)
    autos: dict[str, dict[float, list[bool]]] = {}
    uncalibrated: dict[str, str] = {}  # a method whose confidence a training part did not calibrate: why
    set_aside: dict[str, list[bool]] = {}  # per method, per training part: were near-duplicates set aside?
    timing: dict[str, list[float]] = {n: [0.0, 0.0] for n in names}
    leaks: dict[str, int] = dict.fromkeys(names, 0)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(splits) * len(runs), desc=f"evaluating ({data.model})", unit="run", leave=False)
    for train_idx, test_idx in splits:
        train, test = data.subset(train_idx), data.subset(test_idx)
        done: dict[tuple[str, tuple[str, ...]], m.MethodRun] = {}
        for name, level in runs:
            # a level that labels every product as another one does (the full path of a
            # 3-level catalog is level 3) is trained once
            key = (name, tuple(train.labels(level)) if name in FLAT_METHODS else ())
            run = done.get(key) or _run_method(name, train, test, config, level, prompts)
            if key not in done:
                done[key] = run
                timing[name][0] += run.fit_seconds
                timing[name][1] += run.predict_seconds
                leaks[name] += run.leaks
                if run.copies_set_aside is not None:
                    set_aside.setdefault(name, []).append(run.copies_set_aside)
            for row, path in zip(test_idx, run.predicted, strict=True):
                oof[(name, level)][row] = path
            if run.confidence_note is not None:
                uncalibrated.setdefault(name, run.confidence_note)
            if run.confidence is not None:
                held = confidences.setdefault((name, level), [None] * len(data))
                levels_of = run.level_confidence or [[] for _ in run.confidence]
                for row, conf, per_level_conf in zip(test_idx, run.confidence, levels_of, strict=True):
                    held[row] = (conf, per_level_conf)
            if run.auto is not None:
                into = autos.setdefault(name, {})
                for target, filed in run.auto.items():
                    into.setdefault(target, [False] * len(data))
                    for row, flag in zip(test_idx, filed, strict=True):
                        into[target][row] = flag
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()

    tested = sorted({int(i) for _, te in splits for i in te})
    truth_paths = [true_paths[i] for i in tested]

    def scored(name: str, level: int | None) -> tuple[dict[str, float], list[tuple[str, ...]], list[float]]:
        """A method's scores at ``level`` (a flat classifier: its model trained at that
        level), its predicted paths, and its accuracy per fold."""
        trained = oof[(name, level if name in FLAT_METHODS else config.level)]
        predicted = [trained[i] for i in tested]
        folds = [
            float(np.mean(cut([trained[i] for i in te], level) == cut([true_paths[i] for i in te], level)))  # type: ignore[misc]
            for _, te in splits
        ]
        return classification_scores(cut(truth_paths, level), cut(predicted, level)), predicted, folds  # type: ignore[arg-type]

    results: dict[str, Any] = {}
    for name in names:
        scores, predicted_paths, folds = scored(name, config.level)
        results[name] = {
            **{k: round(v, 4) for k, v in scores.items()},
            "accuracy_folds": [round(a, 4) for a in folds],
            "accuracy_std": round(float(np.std(folds)), 4),
            "level_accuracy": {
                str(k): round(v, 4)
                for k, v in level_accuracy(truth_paths, predicted_paths, _deepest(name, config.level, config)).items()  # type: ignore[arg-type]
            },
            "fit_seconds": round(timing[name][0], 2),
            "predict_seconds": round(timing[name][1], 2),
            "held_out_neighbors": leaks[name],
        }
    per_level: dict[str, dict[str, Any]] = {}
    if config.per_level:
        for level in levels:
            per_level[_level_name(level)] = {}
            for name in names:
                scores, _, folds = scored(name, level)
                per_level[_level_name(level)][name] = {
                    "accuracy": round(scores["accuracy"], 4),
                    "accuracy_std": round(float(np.std(folds)), 4),
                    "macro_f1": round(scores["macro_f1"], 4),
                }
    # as served: a method some training part could not calibrate has no confidence to report
    confidences = {key: held for key, held in confidences.items() if key[0] not in uncalibrated}
    autos = {name: filed for name, filed in autos.items() if name not in uncalibrated}
    if confidences or uncalibrated:
        report = confidence_report(confidences, oof, autos, names, levels, tested, true_paths, config)
        out_confidence = report | {
            "category_depth": served_depth,
            "not_calibrated": uncalibrated,
            # per method: in how many training parts the copies were set aside, of how many
            "near_duplicates_set_aside": {name: [sum(parts), len(parts)] for name, parts in set_aside.items()},
        }
    truth = cut(truth_paths, config.level)
    best = max(names, key=lambda n: results[n]["accuracy"])
    best_pred = cut(scored(best, config.level)[1], config.level)
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
        **({"per_level": per_level} if per_level else {}),
        **({"confidence": out_confidence} if confidences or uncalibrated else {}),
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


def confidence_report(
    confidences: dict[tuple[str, int | None], list[Any]],
    oof: dict[tuple[str, int | None], list[Any]],
    autos: dict[str, dict[float, list[bool]]],
    names: Sequence[str],
    levels: Sequence[int | None],
    tested: Sequence[int],
    true_paths: Sequence[tuple[str, ...]],
    config: EvalConfig,
) -> dict[str, Any]:
    """Per evaluated level and method with a confidence: coverage at precision, ECE and the
    reliability bins; a path method's level confidence is its own at that level (its path's
    where it stopped above it), a flat classifier's that of its model at that level."""
    out: dict[str, Any] = {"levels": {}, "auto": {}}
    truth = [true_paths[i] for i in tested]
    for level in levels:
        row: dict[str, Any] = {}
        for name in names:
            flat = name in FLAT_METHODS
            key = (name, level if flat else config.level)
            if key not in confidences:
                continue
            held = [confidences[key][i] for i in tested]
            predicted = [oof[key][i] for i in tested]
            if flat or level is None:
                conf = [h[0] for h in held]
            else:
                conf = [h[1][level - 1] if len(h[1]) >= level else h[0] for h in held]
            right = cut(predicted, level) == cut(truth, level)  # type: ignore[arg-type]
            row[name] = cs.summary(conf, right.tolist())
        if row:
            out["levels"][_level_name(level)] = row
    for name, by_target in autos.items():
        predicted = [oof[(name, config.level)][i] for i in tested]
        right = cut(predicted, None) == cut(truth, None)  # type: ignore[arg-type]
        out["auto"][name] = cs.auto_summary({t: [flags[i] for i in tested] for t, flags in by_target.items()}, right)
    return out


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
            result["plots"] = plots(result, out) if config.plots else []
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]
        (out / "metrics.json").write_text(
            json.dumps({"config": asdict(config), "results": clean}, indent=2, ensure_ascii=False, default=str) + "\n"
        )
        (out / "report.md").write_text(markdown(clean, config.level, config.max_level, title))
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

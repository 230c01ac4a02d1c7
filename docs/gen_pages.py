"""mkdocs-gen-files: write the reference pages generated from the code (scripts/docs_reference.py)."""

import sys
from pathlib import Path

import mkdocs_gen_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import docs_reference

for name, make in (
    ("settings", docs_reference.settings_markdown),
    ("cli", docs_reference.cli_markdown),
    ("http-api", docs_reference.api_markdown),
):
    with mkdocs_gen_files.open(f"reference/{name}.md", "w") as page:
        page.write(make())

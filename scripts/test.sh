#!/usr/bin/env bash
# Set up and run the checks CI runs: ruff, the documentation site's build, then the whole pytest suite (unit tests and
# integration tests on the real MiniLM model; those needing ../shared datasets skip
# with a reason when it is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check src tests benchmarks scripts docs/gen_pages.py
.venv/bin/ruff format --check src tests benchmarks scripts docs/gen_pages.py
# the documentation site, its references generated from the code: a broken link fails
NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true .venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
.venv/bin/python -m pytest -q -rs "$@"

#!/usr/bin/env bash
# Set up and run the checks CI runs: ruff, then the whole pytest suite (unit tests and
# integration tests on the real MiniLM model; those needing ../shared datasets skip
# with a reason when it is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/python -m pytest -q -rs "$@"

#!/usr/bin/env bash
# Create .venv (once) and install semcat with its dev tools. Idempotent: a second run
# only reinstalls when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# torch 2.14.1 + torchvision 0.29.1 is the pin these machines serve from local disk.
# Elsewhere, set TORCH_SPEC (e.g. a CPU-only build) to avoid a multi-GB CUDA download.
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.semcat-installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # shellcheck disable=SC2086
    .venv/bin/python -m pip install --quiet $TORCH_SPEC
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    rm -f .venv/.semcat-installed-*
    touch "$stamp"
fi

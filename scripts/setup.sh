#!/usr/bin/env bash
# Create .venv (once) and install semcat with its dev tools. Idempotent: a second run
# only reinstalls when pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# torch 2.14.1 + torchvision 0.29.1 is the pin these machines serve from local disk.
# Elsewhere, set TORCH_SPEC (e.g. a CPU-only build) to avoid a multi-GB CUDA download.
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.semcat-installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # shellcheck disable=SC2086
    .venv/bin/python -m pip install --quiet $TORCH_SPEC
    # the versions the suite last passed with (constraints.txt), not whatever is newest today
    .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"
    rm -f .venv/.semcat-installed-*
    touch "$stamp"
fi

# The browser tests (tests/browser) drive Debian's Chromium through Playwright for
# Python (no browser download of its own). Install it where we can (root with apt-get,
# as on CI); elsewhere those tests skip and say why.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "setup: could not install chromium with apt-get; the browser tests will skip" >&2
    else
        echo "setup: no chromium (apt-get install chromium); the browser tests will skip" >&2
    fi
fi

#!/usr/bin/env bash
# The API image's stages, played in a virtual environment where no Docker engine runs
# (as on the machines semcat is built on): bash scripts/check_api_image.sh [WORKDIR]
#  1. runtime: pip install --require-hashes --no-deps -r requirements/api.txt (no torch)
#  2. export:  + requirements/export.txt (hashed), build semcat's wheel, install it,
#              `semcat models prepare minilm` (the ONNX export)
#  3. image:   the export stage's packages uninstalled again (the image is the runtime
#              stage plus the wheel and the export), then index the sample, categorize
#              and serve with torch absent.
# What it cannot check: the base image, Docker's layers, the compose stack.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=${1:-$(mktemp -d)}
python=${PYTHON:-python3}
echo "working in $work"
"$python" -m venv "$work/venv"
pip="$work/venv/bin/pip"
"$pip" install --quiet --require-hashes --no-deps -r requirements/api.txt
"$pip" install --quiet --require-hashes --no-deps -r requirements/export.txt
"$pip" wheel --quiet --no-deps --no-build-isolation -w "$work/wheels" .
"$pip" install --quiet --no-deps "$work"/wheels/semcat-*.whl
export HF_HUB_OFFLINE=1 SEMCAT_MODELS_DIR="$work/models" SEMCAT_DATA_DIR="$work/data"
"$work/venv/bin/semcat" models prepare minilm
"$pip" uninstall --quiet -y $(grep -oE '^[a-z0-9._-]+==' requirements/export.txt | tr -d '=')
if "$work/venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "FAIL: torch is importable in the runtime environment" >&2
    exit 1
fi
echo "runtime environment: $(du -sh "$work/venv" | cut -f1), torch absent; pip check says:"
"$pip" check || true  # semcat and the MiniLM wheel declare torch-based dependencies the image leaves out
"$work/venv/bin/semcat" index "$repo/examples/flipkart-1050/flipkart_com-ecommerce_sample_1050.csv" -q
"$work/venv/bin/semcat" categorize --file "$repo/examples/new_products.csv" --output "$work/predictions.csv"
port=${PORT:-8765}
"$work/venv/bin/semcat" serve --port "$port" > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$port/ready" > /dev/null && break
    sleep 1
done
curl -sf -X POST "http://127.0.0.1:$port/categorize" -H 'content-type: application/json' \
    -d '{"items": [{"title": "stainless steel pressure cooker 5 litre"}]}' | head -c 300
echo
echo "OK: indexed, categorized and served without torch"

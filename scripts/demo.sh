#!/usr/bin/env bash
# The quickstart: set up, index the bundled Flipkart sample into the embedded FAISS
# store (./semcat-data), then categorize new products and search.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
semcat=.venv/bin/semcat

echo "== semcat index (FAISS, MiniLM) =="
$semcat index examples/flipkart-1050/flipkart_com-ecommerce_sample_1050.csv
echo
echo "== semcat categorize (one text) =="
$semcat categorize "Prestige stainless steel pressure cooker 5 litre"
echo
echo "== semcat categorize --file examples/new_products.csv =="
$semcat categorize --file examples/new_products.csv
echo
echo "== semcat similar =="
$semcat similar "soft cotton bath towel" -k 3
echo
$semcat info

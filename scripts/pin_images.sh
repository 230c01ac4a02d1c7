#!/usr/bin/env bash
# Re-pin the images the Dockerfile and the compose files name to the digests their tags
# have now: `bash scripts/pin_images.sh` on a machine with Docker (buildx) and a registry
# in reach. Each reference is written as tag@digest: the tag for the reader, the digest
# for the pull (a digest that does not exist fails the pull; it never yields other content).
set -euo pipefail
cd "$(dirname "$0")/.."
files=(Dockerfile docker-compose.yml docker-compose.cluster.yml)
refs=$(grep -ohE '(FROM |image: )[a-z0-9./_-]+:[A-Za-z0-9._-]+(@sha256:[0-9a-f]{64})?' "${files[@]}" \
    | sed -E 's/^(FROM |image: )//; s/@sha256:.*//' | sort -u)
for ref in $refs; do
    digest=$(docker buildx imagetools inspect "$ref" --format '{{json .Manifest}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
    echo "$ref@$digest"
    sed -i -E "s|${ref//./\\.}(@sha256:[0-9a-f]{64})?|$ref@$digest|g" "${files[@]}"
done

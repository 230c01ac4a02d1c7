# semcat API image. Build: docker build -t semcat .
# Not built on the machines semcat is developed on (no Docker engine there); see
# docs/guides/deployment.md for what was checked instead.
#
# Three stages. `runtime`: the server's packages, without torch (requirements/api.txt).
# `export`: runtime plus torch, only to export MiniLM to ONNX once and to build semcat's
# wheel; thrown away. The image: runtime plus that wheel and the export. The export is
# made from the MiniLM files of the runtime layer itself, so the fingerprint it is filed
# under (file sizes and times) is the one the server computes.
# Every pip install checks hashes (--require-hashes); the base image is pinned by digest
# (scripts/pin_images.sh re-reads the digests from the registry).
FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5 AS runtime

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    SEMCAT_HOST=0.0.0.0 \
    SEMCAT_PORT=8000 \
    SEMCAT_DATA_DIR=/data \
    SEMCAT_MODELS_DIR=/opt/semcat/models \
    MPLCONFIGDIR=/tmp/matplotlib

COPY requirements/api.txt /tmp/requirements-api.txt
RUN pip install --require-hashes --no-deps -r /tmp/requirements-api.txt && rm /tmp/requirements-api.txt

FROM runtime AS export
COPY requirements/export.txt /tmp/requirements-export.txt
RUN pip install --require-hashes --no-deps -r /tmp/requirements-export.txt
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-deps --no-build-isolation -w /wheels . \
    && pip install --no-deps /wheels/semcat-*.whl \
    && semcat models prepare minilm

FROM runtime
COPY --from=export /wheels /wheels
COPY --from=export /opt/semcat/models /opt/semcat/models
RUN pip install --no-deps /wheels/semcat-*.whl && rm -r /wheels \
    && useradd --create-home --uid 10001 semcat \
    && mkdir -p /data && chown semcat /data
USER semcat
WORKDIR /home/semcat
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=90s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2)"
CMD ["semcat", "serve"]

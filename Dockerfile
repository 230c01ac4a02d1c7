# semcat API image. Build: docker build -t semcat .
# Not built on the machines semcat is developed on (no Docker engine there); see README.
FROM python:3.11.11-slim-bookworm

# torch wheel to install; override (e.g. with a CPU-only build and its index via
# PIP_EXTRA_INDEX_URL) to keep the image small.
ARG TORCH_SPEC="torch==2.14.1"
ARG PIP_EXTRA_INDEX_URL=""

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    SEMCAT_HOST=0.0.0.0 \
    SEMCAT_PORT=8000 \
    SEMCAT_DATA_DIR=/data \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
# constraints.txt pins every Python dependency to the versions the test suite passed with
RUN pip install -c constraints.txt ${TORCH_SPEC} && pip install -c constraints.txt . \
    && useradd --create-home --uid 10001 semcat \
    && mkdir -p /data && chown semcat /data

USER semcat
# the default backend's ONNX export (int8), built now from the model in the image so the
# first start does not pay for it (and never needs torch at run time)
RUN semcat models prepare minilm
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=90s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2)"
CMD ["semcat", "serve"]

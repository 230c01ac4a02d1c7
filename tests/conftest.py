"""Shared fixtures. Tests never reach a model hub."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
_FLIPKART_NAME = "flipkart_com-ecommerce_sample_1050.csv"
# The photos: the shared copy, else the copy the repo ships beside the sample.
FLIPKART_IMAGES = (
    SHARED / "flipkart-1050" / "images"
    if (SHARED / "flipkart-1050" / "images").is_dir()
    else REPO / "examples" / "flipkart-1050" / "images"
)
# The shared copy when ../shared is there, else the identical sample the repo ships.
FLIPKART_CSV = (
    SHARED / "flipkart-1050" / _FLIPKART_NAME
    if (SHARED / "flipkart-1050" / _FLIPKART_NAME).exists()
    else REPO / "examples" / "flipkart-1050" / _FLIPKART_NAME
)


def load_script(name: str) -> Any:
    """scripts/<name>.py as a module (the scripts are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class HashEmbedder:
    """A deterministic bag-of-words embedder (feature hashing) for fast unit tests:
    texts sharing words get similar vectors, no model needed."""

    def __init__(self, dim: int = 64, name: str = "test-hash") -> None:
        self.dim = dim
        self.name = name
        self.calls = 0
        self.texts_seen = 0
        self.fail_after: int | None = None  # raise KeyboardInterrupt once this many calls happened

    def encode_texts(self, texts: Sequence[str], role: str = "query", batch_size: int | None = None) -> np.ndarray:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.texts_seen += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            # a real text model embeds any visible text; punctuation alone counts as one word here
            for word in re.findall(r"\w+", text.lower()) or [text.strip()] * bool(text.strip()):
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[row, h % self.dim] += 1.0 if (h >> 64) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)

    supports_images = False

    def encode_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        raise NotImplementedError


class PixelEmbedder(HashEmbedder):
    """A fast stand-in for CLIP: texts as in HashEmbedder, images as their mean colour
    on a 4x4 grid (48 values, the rest zero), so same-looking photos are close."""

    supports_images = True

    def __init__(self, dim: int = 64, name: str = "test-pixels") -> None:
        super().__init__(dim, name)
        self.images_seen = 0

    def encode_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        self.images_seen += len(images)
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for row, image in enumerate(images):
            assert image.mode == "RGB"
            grid = np.asarray(image.resize((4, 4)), dtype=np.float32).ravel() / 255.0 - 0.5
            out[row, : grid.size] = grid
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


def write_image(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (40, 30), fmt: str = "JPEG") -> Path:
    """A small solid-colour photo with a darker stripe (so it is not flat)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 3, size[1]), fill=tuple(c // 2 for c in colour))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt)
    return path


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def flipkart_csv() -> Path:
    if not FLIPKART_CSV.exists():
        pytest.skip(f"shared dataset not found at {FLIPKART_CSV} (../shared is absent in a user's clone)")
    return FLIPKART_CSV


@pytest.fixture
def cli_hash_model(monkeypatch: pytest.MonkeyPatch) -> HashEmbedder:
    """Every Engine (the ones the CLI makes too) embeds with the hash embedder: no model
    weights to load, the store's model named after it."""
    from semcat.engine import Engine

    embedder = HashEmbedder()
    monkeypatch.setattr(Engine, "_load_embedder", lambda self: embedder)
    monkeypatch.setattr(Engine, "_model_name", lambda self: embedder.name)
    return embedder


BACKENDS = ["faiss", "faiss-hnsw", "qdrant-memory", "qdrant-path", "qdrant-edge"]


def make_store(kind: str, tmp_path: Path, meta: Any) -> Any:
    from semcat.search.faiss import FaissStore
    from semcat.search.qdrant_store import QdrantStore

    if kind == "faiss":
        return FaissStore(tmp_path / "faiss", meta)
    if kind == "faiss-hnsw":
        return FaissStore(tmp_path / "faiss", meta, index_kind="hnsw", hnsw_m=16)
    if kind == "qdrant-memory":
        return QdrantStore("products", meta, location=":memory:")
    if kind == "qdrant-path":
        return QdrantStore("products", meta, path=tmp_path / "qdrant")
    if kind == "qdrant-edge":
        from semcat.search.qdrant_edge import QdrantEdgeStore

        return QdrantEdgeStore(tmp_path / "qdrant-edge", meta)
    raise ValueError(kind)


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Call with a StoreMeta (or None to reopen); every store opened is closed after."""
    opened: list[Any] = []

    def factory(meta: Any) -> Any:
        store = make_store(request.param, tmp_path, meta)
        opened.append(store)
        return store

    factory.kind = request.param  # type: ignore[attr-defined]
    yield factory
    for store in opened:
        store.close()


def prepare_alias(folder: Path, alias: str) -> Path:
    """`semcat models prepare <alias>` into ``folder`` (a models folder), asserting it worked."""
    from typer.testing import CliRunner

    from semcat.cli import app

    result = CliRunner().invoke(app, ["models", "prepare", alias, "--models-dir", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def index_with_cli(data: Path, catalog: Path, **env_extra: str) -> dict[str, str]:
    """`semcat index` ``catalog`` into ``data`` (``env_extra``: SEMCAT_* settings); the
    environment a server over it runs with."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "SEMCAT_DATA_DIR": str(data), **env_extra}
    index = subprocess.run(
        [sys.executable, "-m", "semcat.cli", "index", str(catalog), "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert index.returncode == 0, index.stderr
    return env


def start_serving(data: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`semcat serve` over ``data`` on a free localhost port, once /ready answers; the
    process and its URL (its output goes to ``data/server.log``, a restart's over the last)."""
    port = free_port()
    log_path = data / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "semcat.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise AssertionError(log_path.read_text())
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("server did not become ready")
        time.sleep(0.3)


@contextmanager
def serving(data: Path, catalog: Path, **env_extra: str) -> Iterator[str]:
    """Index ``catalog`` into ``data`` with the CLI, then run `semcat serve` on a free
    localhost port (``env_extra``: SEMCAT_* settings); yields its URL, stops it after."""
    proc, url = start_serving(data, index_with_cli(data, catalog, **env_extra))
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)

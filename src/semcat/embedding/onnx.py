"""ONNX Runtime text embedder: the sentence-transformers model exported once to ONNX (and,
for the default ``onnx-int8`` backend, its weight matrices quantized to int8), cached under
``models_dir/onnx``, then run with ONNX Runtime and the model's own fast tokenizer.

Why (docs/benchmarks.md): on this 2-core CPU ``semcat index`` with the int8 graph runs at
3.78x the speed of bare fp32 ``SentenceTransformer.encode``
(benchmarks/performance/indexing_throughput.py), at a cosine of ~0.99 to the fp32 vectors
and the same accuracy at every level (benchmarks/accuracy/backends.py).

- Export: the whole sentence-transformers pipeline after tokenization (transformer, pooling,
  any dense / normalize modules) is traced into one graph with dynamic batch and length
  axes, so any sentence-transformers model works, not only mean-pooled BERTs.
- Quantization: ONNX Runtime's dynamic quantization, int8 weights per output channel, only
  the matrix products with a constant weight (attention's own products stay fp32: quantizing
  them cost accuracy and gained nothing here). Activations are quantized per batch, so a
  product's int8 vector varies very slightly (cosine > 0.97) with the texts batched with it.
- Cache: one folder per (source model, fingerprint of its files); built in a temp folder and
  renamed into place, so concurrent processes never read a half-written model. Nothing is
  downloaded: the source is the model folder semcat already resolves offline.
- Threads: one session, one intra-op thread per call; a bulk call spreads its batches over
  ``threads`` worker threads (ONNX Runtime releases the GIL), and a server's concurrent
  requests run in parallel the same way. That was faster than one call on two threads
  (docs/design-notes.md). Background work (the API's write worker) keeps its batches on
  its own, lower-priority thread.
- Batches: sorted by token count, at most ``batch_size`` rows and :data:`TOKEN_BUDGET`
  padded tokens each.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from semcat.embedding.base import ResolvedModel, Role, check_texts, l2_normalize
from semcat.errors import ModelError
from semcat.options import Backend
from semcat.threads import cpu_threads, in_background

# What each backend appends to the vectors' model name. fp32 ONNX reproduces torch's vectors
# (cosine 1 - 1e-7), so it shares their name; int8 vectors are another space.
BACKEND_SUFFIX: dict[str, str] = {"onnx-int8": "@int8", "onnx": "", "torch": ""}

EXPORT_FORMAT = 1  # bump when the exported graph changes; old cache folders are then ignored
META = "semcat_onnx.json"
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
ONNX_OPSET = 17
# Padded tokens per ONNX Runtime call (rows x the batch's longest text), besides the
# batch_size cap on rows: long texts go a few to a call, short titles up to batch_size, so
# the activations of a call stay in the CPU's caches (measured against fixed-row batches in
# docs/design-notes.md, "Text encoder backend").
TOKEN_BUDGET = 512


def fingerprint(source: str) -> str:
    """A short hash of a local model folder's files (names, sizes, modification times), so a
    model changed in place (re-trained by `semcat train`) is exported again."""
    path = Path(source)
    digest = hashlib.sha256(f"{EXPORT_FORMAT}|{source}".encode())
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            stat = file.stat()
            digest.update(f"{file.relative_to(path)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def cache_folder(model: ResolvedModel, models_dir: Path) -> Path:
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(model.source).name or model.name)
    return Path(models_dir).expanduser() / "onnx" / f"{slug}-{fingerprint(model.source)}"


def export_model(model: ResolvedModel, models_dir: Path, force: bool = False) -> Path:
    """The cached ONNX folder of a sentence-transformers model, exported (and quantized) on
    the first call (or again with ``force``). Loads torch and the model only then."""
    target = cache_folder(model, models_dir)
    if (target / META).exists() and not force:
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".export-"))
    except OSError as exc:
        raise ModelError(
            f"cannot write the ONNX export of {model.name} under {target.parent} ({exc}): set SEMCAT_MODELS_DIR "
            "to a writable folder, or SEMCAT_BACKEND=torch"
        ) from exc
    try:
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide the model from other users of a shared cache
        _export_into(model, tmp)
        if force:
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)  # atomic: readers see the whole folder or none
        except OSError:
            if not (target / META).exists():  # not just another process winning the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _export_into(model: ResolvedModel, folder: Path) -> None:
    try:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError(f"exporting to ONNX needs torch, sentence-transformers and onnxruntime: {exc}") from exc
    try:
        st = SentenceTransformer(model.source, device="cpu", local_files_only=model.local)
    except Exception as exc:
        raise ModelError(f"cannot load model {model.source!r} to export it to ONNX: {exc}") from exc
    tokenizer = getattr(st.tokenizer, "backend_tokenizer", None)
    if tokenizer is None:
        raise ModelError(f"model {model.source!r} has no fast tokenizer; use SEMCAT_BACKEND=torch")
    names = [n for n in st.tokenizer.model_input_names if n in ("input_ids", "token_type_ids", "attention_mask")]
    sample = st.tokenize(["a product title", "another, longer product title for the export"])
    inputs = tuple(sample[n] for n in names)

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *tensors: Any) -> Any:
            return self.st(dict(zip(names, tensors, strict=True)))["sentence_embedding"]

    fp32 = folder / FP32_FILE
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"embedding": {0: "batch"}}
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.ERROR)  # the quantizer logs a "pre-process first" advice on the root logger
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's warnings are about code paths the graph does not take
            torch.onnx.export(
                Graph().eval(),
                inputs,
                str(fp32),
                input_names=names,
                output_names=["embedding"],
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        quantize_dynamic(
            str(fp32),
            str(folder / INT8_FILE),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"MatMulConstBOnly": True},
        )
    except Exception as exc:
        raise ModelError(f"exporting {model.source!r} to ONNX failed ({exc}); use SEMCAT_BACKEND=torch") from exc
    finally:
        root.setLevel(level)
    (folder / "tokenizer.json").write_text(tokenizer.to_str(), encoding="utf-8")
    dim = st.get_embedding_dimension() if hasattr(st, "get_embedding_dimension") else None
    meta = {
        "format": EXPORT_FORMAT,
        "source": model.source,
        "name": model.name,
        "inputs": names,
        "dim": int(dim or st.get_sentence_embedding_dimension()),
        "max_seq_length": int(st.max_seq_length or 512),
    }
    (folder / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")


class OnnxEmbedder:
    """A sentence-transformers model run by ONNX Runtime (backend ``onnx`` or ``onnx-int8``).
    Same contract as :class:`~semcat.embedding.sentence.SentenceTransformerEmbedder`."""

    supports_images = False

    def __init__(
        self,
        model: ResolvedModel,
        models_dir: Path,
        backend: Backend = "onnx-int8",
        max_tokens: int = 256,
        batch_size: int = 64,
        prefixes: dict[str, str] | None = None,
        name_suffix: str = "",
        threads: int = 0,
    ) -> None:
        if backend not in ("onnx", "onnx-int8"):
            raise ModelError(f"OnnxEmbedder runs the onnx backends, not {backend!r}")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError(f"the {backend} backend needs onnxruntime and tokenizers: {exc}") from exc
        folder = export_model(model, models_dir)
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = folder / (INT8_FILE if backend == "onnx-int8" else FP32_FILE)
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"cannot load the ONNX model {path} ({exc}); delete {folder} to rebuild it") from exc
        self._inputs: list[str] = list(meta["inputs"])
        self.max_tokens = min(max_tokens, int(meta["max_seq_length"]))
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.max_tokens)
        self.name = model.name + name_suffix + BACKEND_SUFFIX[backend]
        self.dim = int(meta["dim"])
        self.batch_size = batch_size
        self.prefixes = dict(prefixes or {})
        self.threads = threads or cpu_threads()
        self.folder = folder
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def encode_texts(self, texts: Sequence[str], role: Role = "query", batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        check_texts(texts)
        prefix = self.prefixes.get(role, "")
        cleaned = [(prefix + t).strip() for t in texts]
        # one text (a request) is tokenized on this thread: encode_batch would wake the
        # tokenizer's thread pool for it
        encodings = [self._tokenizer.encode(cleaned[0])] if len(cleaned) == 1 else self._tokenizer.encode_batch(cleaned)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(-lengths, kind="stable")  # batches of like token counts: little padding
        # a call smaller than threads x batch size is split so every thread gets a share
        size = max(1, min(batch_size or self.batch_size, -(-len(texts) // self.threads)))
        batches = _batches(order, lengths, size, TOKEN_BUDGET)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)

        def run(rows: np.ndarray) -> None:
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, j in enumerate(rows):
                n = int(lengths[j])
                ids[r, :n] = encodings[j].ids
                mask[r, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out[rows] = self._session.run(None, {n: feeds[n] for n in self._inputs})[0]

        if len(batches) == 1 or self.threads == 1 or in_background():  # background work stays on its thread
            for rows in batches:
                run(rows)
        else:
            list(self._workers().map(run, batches))
        return l2_normalize(out)

    def _workers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="semcat-embed")
            return self._pool

    def encode_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        raise ModelError(f"{self.name} is a text model; image embedding needs a CLIP model")


def _batches(order: np.ndarray, lengths: np.ndarray, size: int, budget: int) -> list[np.ndarray]:
    """Rows in ``order`` (longest first) cut into batches of at most ``size`` rows and at
    most ``budget`` padded tokens (rows x the batch's longest text; one row at least)."""
    out: list[np.ndarray] = []
    i = 0
    while i < len(order):
        rows = max(1, min(size, budget // max(1, int(lengths[order[i]]))))
        out.append(order[i : i + rows])
        i += rows
    return out

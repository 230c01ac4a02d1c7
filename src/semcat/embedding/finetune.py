"""Fine-tune a sentence-transformers embedder on a labeled catalog (``semcat train``).

Supervised contrastive learning (SupCon, Khosla et al. 2020): in each batch, products of
the same category are pulled together and all others pushed apart, through the model's
own pooling and normalization. It is what kNN voting and KMeans clustering want from a
vector space, needs no extra head, and runs on a CPU for 1k–10k products (a few minutes
per epoch on 2 cores for 1,000 products). The result is a new local sentence-transformers
folder; the vectors of the original model are untouched, so the fine-tuned model goes
into its own store (``semcat train --reindex-into``) and a relabel still takes effect on
the next request there, as with any model.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semcat.embedding.registry import TRAIN_META
from semcat.errors import InvalidInputError, ModelError


@dataclass
class TrainConfig:
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    temperature: float = 0.1
    max_tokens: int = 128
    max_products: int = 5000  # class-balanced sample above this (CPU time grows linearly)
    warmup: float = 0.1
    seed: int = 0


@dataclass
class TrainSummary:
    base_model: str
    output: str
    products: int
    categories: int
    epochs: int
    steps: int
    seconds: float
    final_loss: float
    interrupted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def balanced_sample(labels: Sequence[str], limit: int, seed: int = 0) -> np.ndarray:
    """Row indices: everything when under ``limit``, else an equal share per category
    (small categories whole, the rest filled round-robin)."""
    n = len(labels)
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    pools = [list(rng.permutation(rows)) for rows in by_class.values()]
    chosen: list[int] = []
    while len(chosen) < limit:
        for pool in pools:
            if pool and len(chosen) < limit:
                chosen.append(int(pool.pop()))
    return np.sort(np.asarray(chosen))


def supcon_loss(embeddings: Any, labels: Any, temperature: float) -> Any:
    """Supervised contrastive loss over L2-normalized embeddings of one batch."""
    import torch

    sims = embeddings @ embeddings.T / temperature
    self_mask = torch.eye(len(labels), dtype=torch.bool, device=embeddings.device)
    sims = sims.masked_fill(self_mask, -1e9)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    log_prob = sims - torch.logsumexp(sims, dim=1, keepdim=True)
    counts = positives.sum(1)
    has = counts > 0
    if not bool(has.any()):
        return (sims * 0).sum()
    return -((log_prob * positives).sum(1)[has] / counts[has]).mean()


def fine_tune(
    source: str,
    texts: Sequence[str],
    labels: Sequence[str],
    output: Path,
    config: TrainConfig | None = None,
    prefix: str = "",
    base_name: str | None = None,
    device: str = "cpu",
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainSummary:
    """Fine-tune the sentence-transformers model at ``source`` on (text, label) pairs and
    save it to ``output``. ``prefix`` is put before every text (E5's ``query: ``) and
    recorded, so the saved model is used with the same prefix."""
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer

    config = config or TrainConfig()
    if len(texts) != len(labels):
        raise InvalidInputError(f"{len(texts)} texts but {len(labels)} labels")
    categories = sorted(set(labels))
    if len(categories) < 2:
        raise InvalidInputError("fine-tuning needs labeled products of at least two categories")
    rows = balanced_sample(labels, config.max_products, config.seed)
    texts = [prefix + texts[i] for i in rows]
    index = {c: i for i, c in enumerate(categories)}
    targets = np.asarray([index[labels[i]] for i in rows])
    try:
        model = SentenceTransformer(source, device=device, local_files_only=True)
    except Exception as exc:
        raise ModelError(f"cannot load {source!r} for fine-tuning: {exc}") from None
    model.max_seq_length = min(config.max_tokens, model.max_seq_length or config.max_tokens)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    batch = max(2, min(config.batch_size, len(texts)))
    per_epoch = max(1, len(texts) // batch)
    total = per_epoch * config.epochs
    warmup = max(1, math.ceil(config.warmup * total))
    start = time.perf_counter()
    step, loss_value, interrupted = 0, float("nan"), False
    model.train()
    try:
        for _ in range(config.epochs):
            order = rng.permutation(len(texts))
            for begin in range(0, per_epoch * batch, batch):
                picked = order[begin : begin + batch]
                features = model.tokenize([texts[i] for i in picked])
                features = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()}
                embeddings = F.normalize(model(features)["sentence_embedding"], dim=1)
                loss = supcon_loss(
                    embeddings, torch.as_tensor(targets[picked], device=model.device), config.temperature
                )
                scale = min(1.0, (step + 1) / warmup) * max(0.0, 1.0 - step / total)
                for group in optimizer.param_groups:
                    group["lr"] = config.learning_rate * scale
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                loss_value = float(loss.detach())
                if progress is not None:
                    progress(step, total, loss_value)
    except KeyboardInterrupt:
        interrupted = True
    model.eval()
    summary = TrainSummary(
        base_model=base_name or source,
        output=str(output),
        products=len(texts),
        categories=len(categories),
        epochs=config.epochs,
        steps=step,
        seconds=round(time.perf_counter() - start, 1),
        final_loss=round(loss_value, 4),
        interrupted=interrupted,
    )
    if interrupted:
        return summary  # a half-trained model is not saved
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    model.save(str(output))
    meta = {"prefix": prefix, "config": asdict(config)} | summary.as_dict()
    (output / TRAIN_META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return summary


def fine_tune_labeled(
    products: Sequence[Any],
    settings: Any,
    config: TrainConfig,
    out: Path | None = None,
    level: int = 1,
    base_name: str = "",
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainSummary:
    """``semcat train``'s model step: fine-tune the configured sentence-transformers model
    on labeled products (their texts as the settings embed them, labels cut at ``level``)
    into ``out`` (default: ``<models dir>/<model>-ft-<collection>``), keeping the model's
    query prefix. ``TrainSummary.output`` is the folder."""
    from semcat.catalog import level_key
    from semcat.embedding.registry import MODEL_ALIASES, is_clip, query_prefix, resolve_model

    if is_clip(settings):
        raise ModelError("semcat train fine-tunes sentence-transformers text models, not CLIP")
    labeled = [p for p in products if p.category]
    if not labeled:
        raise InvalidInputError("the store holds no labeled product to learn from: index a labeled catalog first")
    resolved = resolve_model(settings.model, settings.models_dir)
    if resolved.static:
        raise ModelError(
            f"{settings.model} is a static model (token vectors, no transformer): semcat train fine-tunes "
            "transformer models; fine-tune minilm, then distill the result with model2vec"
        )
    if settings.model.lower() in MODEL_ALIASES:
        name = settings.model.lower()
    else:
        name = Path(resolved.source).name if resolved.local else resolved.name.replace("/", "-")
    target = out or settings.models_dir.expanduser() / f"{name}-ft-{settings.collection}"
    return fine_tune(
        resolved.source,
        [p.text(settings.text_fields) for p in labeled],
        [level_key(p.category_path, level) or "" for p in labeled],
        target,
        config,
        prefix=query_prefix(resolved, settings.prefix_scheme),
        base_name=base_name,
        device=settings.device,
        progress=progress,
    )

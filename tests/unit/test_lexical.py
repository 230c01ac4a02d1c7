"""The lexical vote: stored word vectors vote beside the dense neighbors."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from semcat.catalog import Product
from semcat.config import Settings
from semcat.embedding.lexical import LexicalEncoder
from semcat.engine import Engine


class BlurryEmbedder:
    """Dense vectors that carry no meaning: every product is about equally similar to
    every other (cosine around 0.85), as a weak model sees model numbers and rare
    brand words. A text always gets the same vector."""

    name = "blurry"
    dim = 8
    supports_images = False

    def encode_texts(self, texts: Sequence[str], role: str = "query", batch_size: int | None = None) -> np.ndarray:
        out = np.ones((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int(hashlib.md5(text.encode()).hexdigest()[:8], 16)
            out[row] += 0.6 * np.random.default_rng(seed).normal(size=self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_images(self, images: Sequence[object], batch_size: int | None = None) -> np.ndarray:
        raise NotImplementedError


CATALOG = [
    ("t1", "Toner cartridge HP CF283A black", "Office > Printer Supplies"),
    ("t2", "Toner cartridge Brother TN2420", "Office > Printer Supplies"),
    ("t3", "Ink cartridge Canon PG545 black", "Office > Printer Supplies"),
    ("g1", "Garden hose 20 m reel", "Garden > Watering"),
    ("g2", "Garden sprinkler oscillating", "Garden > Watering"),
    ("g3", "Watering can 10 l green", "Garden > Watering"),
    ("g4", "Hose nozzle spray gun", "Garden > Watering"),
]


def engine_with(tmp_path: Path, lexical_weight: float) -> Engine:
    settings = Settings(data_dir=tmp_path / f"w{lexical_weight}", lexical_weight=lexical_weight, k=3, head_weight=0)
    engine = Engine(settings, embedder=BlurryEmbedder())
    engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
    return engine


@pytest.mark.parametrize(("query", "match"), [("compatible toner CF283A", "t1"), ("ink cartridge PG545", "t3")])
def test_words_decide_when_the_dense_vectors_cannot(tmp_path: Path, query: str, match: str) -> None:
    with engine_with(tmp_path, 0.0) as dense_only:
        blurred = dense_only.categorize([query])[0]
        assert len(blurred.neighbors) == 3 and all(n.space == "text" for n in blurred.neighbors)
        assert blurred.main_category == "Garden"  # the meaningless vectors mislead
    with engine_with(tmp_path, 0.5) as engine:
        prediction = engine.categorize([query])[0]
        assert prediction.main_category == "Office"
        # the product sharing the rare word is part of the evidence (found by words if not by vectors)
        assert match in {n.id for n in prediction.neighbors}
        assert {n.space for n in prediction.neighbors} <= {"text", "lexical"}


def test_a_relabel_still_wins_over_the_words(tmp_path: Path) -> None:
    with engine_with(tmp_path, 0.5) as engine:
        engine.upsert_products([Product.build(id="t1", title=CATALOG[0][1], category="Office > Toner")])
        prediction = engine.categorize([CATALOG[0][1]])[0]
        assert prediction.category == "Office > Toner" and prediction.near_duplicate


def test_lexical_rows_are_normalized_hashed_word_ngrams() -> None:
    encoder = LexicalEncoder()
    (idx, val), (idx2, _) = encoder.encode(["Crème brûlée brûlée set", "creme brulee"])
    assert np.isclose(np.linalg.norm(val), 1.0) and np.all(val > 0) and np.all(np.diff(idx) > 0)
    assert set(idx2) <= set(idx)  # accents stripped, case folded: same words, same dimensions
    assert len(idx) == 6  # crème, brûlée, set + "crème brûlée", "brûlée brûlée", "brûlée set"


def test_rows_do_not_depend_on_how_a_batch_is_split() -> None:
    """Long batches are hashed in chunks (by count and by characters, to keep each call
    short): every text gets the row it gets alone, in order."""
    from semcat.embedding import lexical

    texts = [f"coque iphone {i} " + "silicone transparente " * (i % 7) * 300 for i in range(40)] + [""]
    for analyzer in ("word", "char"):
        encoder = LexicalEncoder(analyzer=analyzer)
        together = encoder.encode(texts)
        assert sum(len(t) for t in texts) > 3 * lexical.ENCODE_CHUNK_CHARS  # several chunks
        for text, (idx, val) in zip(texts, together, strict=True):
            alone_idx, alone_val = encoder.encode([text])[0]
            assert np.array_equal(idx, alone_idx) and np.allclose(val, alone_val)

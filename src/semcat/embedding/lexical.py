"""Sparse lexical vectors: the words of a product, stored beside its dense vector.

A dense embedding knows that "mug" and "cup" are close; it can blur a model number, a
brand or a rare technical word that decides the category. The lexical vector keeps
exactly those: word unigrams and bigrams (lower-cased, accents stripped), hashed into
2**20 dimensions (no vocabulary to fit, so a product's vector never changes when the
catalog grows), with sublinear term frequency (1 + log tf) and unit L2 norm. Rare words
are weighted up at query time by an IDF computed over the stored products
(:func:`semcat.search.idf.bm25_idf`), so a newly indexed word counts as rare as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from semcat.spaces import N_FEATURES, SparseRow

# texts hashed per call, at most ENCODE_CHUNK texts and about ENCODE_CHUNK_CHARS characters:
# the hasher and the duplicate sum run in C holding the interpreter lock, so a head
# retrain hashed in one call stalled concurrent requests (docs/design-notes.md, "What made
# reads slow under writes")
ENCODE_CHUNK = 2048
ENCODE_CHUNK_CHARS = 50_000


class LexicalEncoder:
    """Texts -> sparse rows (indices sorted, values > 0, L2 norm 1).

    ``analyzer="word"`` (the stored lexical vector): word unigrams and bigrams.
    ``analyzer="char"``: character 3- to 5-grams inside word boundaries, which catch
    morphology, compounds and misspellings ("coques", "coque-iphone", "tshirt"); never
    stored, computed from the stored texts for the linear head only.
    """

    def __init__(self, analyzer: str = "word") -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        if analyzer not in ("word", "char"):
            raise ValueError(f"unknown analyzer {analyzer!r}: use 'word' or 'char'")
        self.name = "hash-words12-2^20" if analyzer == "word" else "hash-chars35-2^20"
        self._vectorizer = HashingVectorizer(
            n_features=N_FEATURES,
            analyzer="word" if analyzer == "word" else "char_wb",
            ngram_range=(1, 2) if analyzer == "word" else (3, 5),
            alternate_sign=False,
            norm=None,
            strip_accents="unicode",
            lowercase=True,
        )

    def encode(self, texts: Sequence[str]) -> list[SparseRow]:
        rows: list[SparseRow] = []
        start = chars = 0
        for end, text in enumerate(texts, start=1):
            chars += len(text)
            if chars >= ENCODE_CHUNK_CHARS or end - start >= ENCODE_CHUNK:
                rows += self._encode(texts[start:end])
                start, chars = end, 0
        if start < len(texts):
            rows += self._encode(texts[start:])
        return rows

    def _encode(self, texts: Sequence[str]) -> list[SparseRow]:
        matrix = self._vectorizer.transform(list(texts)).tocsr()
        matrix.sum_duplicates()
        matrix.sort_indices()
        rows: list[SparseRow] = []
        for i in range(matrix.shape[0]):
            start, end = matrix.indptr[i], matrix.indptr[i + 1]
            values = 1.0 + np.log(matrix.data[start:end].astype(np.float64))
            norm = float(np.linalg.norm(values))
            rows.append(
                (
                    matrix.indices[start:end].astype(np.int32),
                    (values / norm if norm > 0 else values).astype(np.float32),
                )
            )
        return rows


def smooth_idf(doc_freq: np.ndarray, n_docs: int, min_df: int = 1) -> np.ndarray:
    """IDF as scikit-learn's TfidfVectorizer computes it (ln((1 + N) / (1 + n)) + 1),
    0 for features seen in fewer than ``min_df`` documents."""
    doc_freq = np.asarray(doc_freq, dtype=np.float64)
    idf = np.log((1.0 + n_docs) / (1.0 + doc_freq)) + 1.0
    idf[doc_freq < min_df] = 0.0
    return idf

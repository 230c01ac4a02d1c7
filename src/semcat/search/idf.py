"""How the stores weight a rare word: the IDF the sparse search scores with."""

from __future__ import annotations

import numpy as np


def bm25_idf(doc_freq: np.ndarray, n_docs: int) -> np.ndarray:
    """IDF as Qdrant computes it for ``Modifier.IDF``: ln((N - n + 0.5) / (n + 0.5) + 1);
    the FAISS store's sparse index computes the same, so both backends rank alike."""
    doc_freq = np.asarray(doc_freq, dtype=np.float64)
    return np.log((n_docs - doc_freq + 0.5) / (doc_freq + 0.5) + 1.0)

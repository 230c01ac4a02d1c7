"""The vector spaces a product and a query carry, named once, and the shape of a sparse row.

A bottom module: the embedding side (which writes these rows), the search side (which
stores and scores them) and the categorizers (which read them) all import it, so neither
of the first two imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_SPACE = "text"  # the product text's dense vector
IMAGE_SPACE = "image"  # the product photo's dense vector (CLIP models)
LEXICAL_SPACE = "lexical"  # the words' sparse vector, stored beside the dense one
CHAR_SPACE = "lexical-chars"  # query-side only: the linear head's character n-grams, never stored
DENSE_SPACES = (DEFAULT_SPACE, IMAGE_SPACE)  # neighbors found by vectors (their scores are cosines)
SPARSE_QUERY_SPACES = (LEXICAL_SPACE, CHAR_SPACE)  # keys of a query mapping that hold sparse rows
N_FEATURES = 2**20  # the sparse rows' dimension (hashed features)
SparseRow = tuple[np.ndarray, np.ndarray]  # (int32 indices, float32 values); empty arrays: no vector


def rows_to_csr(rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> Any:
    """Sparse rows as one (len(rows), N_FEATURES) CSR matrix."""
    from scipy import sparse

    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r[0]) for r in rows])
    if indptr[-1] == 0:
        return sparse.csr_matrix((len(rows), N_FEATURES), dtype=np.float32)
    indices = np.concatenate([np.asarray(r[0], dtype=np.int32) for r in rows])
    values = np.concatenate([np.asarray(r[1], dtype=np.float32) for r in rows])
    return sparse.csr_matrix((values, indices, indptr), shape=(len(rows), N_FEATURES))

"""What the stored vectors say of the labels, apart from any prediction (the label audit's
second opinion): how close the nearest other product under the same label is, against how
close the nearest product is at all, and the groups of near-duplicates filed under
different labels."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_GROUP = 50  # members listed per conflicting near-duplicate group


@dataclass
class ConflictGroup:
    """Products at or above the near-duplicate cosine of each other, with differing labels."""

    members: list[tuple[str, str]]  # (id, stored category), at most MAX_GROUP
    size: int  # members in all
    labels: int  # distinct labels among them
    cosine: float  # the lowest similarity that links a member to the group


def label_support(dense: np.ndarray, labels: Sequence[str], chunk: int = 2048) -> np.ndarray:
    """Per product, the cosine of the closest other product stored under the same label
    (NaN where no other is). Compared within each label's products only, a block of rows
    at a time."""
    vectors = np.asarray(dense, dtype=np.float32)
    groups: dict[str, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        groups[label].append(row)
    out = np.full(len(labels), np.nan)
    for rows in groups.values():
        if len(rows) < 2:
            continue
        members = vectors[rows]
        for begin in range(0, len(rows), chunk):
            block = members[begin : begin + chunk] @ members.T
            block[np.arange(len(block)), np.arange(begin, begin + len(block))] = -np.inf  # not itself
            out[rows[begin : begin + chunk]] = block.max(axis=1)
    return out


def nearest_cosine(dense: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Per product, the cosine of its closest other product, whatever its label (the
    density of its neighborhood, against which :func:`label_support` is read)."""
    import faiss

    vectors = np.ascontiguousarray(dense, dtype=np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    out = np.full(len(vectors), np.nan)
    for start in range(0, len(vectors), chunk):
        scores, rows = index.search(vectors[start : start + chunk], 2)
        own = rows == np.arange(start, start + len(rows))[:, None]
        # the first hit that is not the product itself (a copy may outrank it on a tie)
        out[start : start + len(rows)] = np.where(own[:, 0], scores[:, 1], scores[:, 0])
    return out


def conflicting_duplicates(
    dense: np.ndarray, ids: Sequence[str], labels: Sequence[str], threshold: float
) -> list[ConflictGroup]:
    """Groups of products linked by a cosine of at least ``threshold`` (a chain of such
    pairs) whose labels differ; each group once, the most labels and the largest first."""
    import faiss

    vectors = np.ascontiguousarray(dense, dtype=np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    parent = list(range(len(ids)))
    weakest: dict[int, float] = defaultdict(lambda: 1.0)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs: list[tuple[int, int, float]] = []
    for start in range(0, len(ids), 4096):
        lims, scores, found = index.range_search(vectors[start : start + 4096], threshold)
        for row in range(len(lims) - 1):
            i = start + row
            span = slice(lims[row], lims[row + 1])
            for j, s in zip(found[span].tolist(), scores[span].tolist(), strict=True):
                if j > i:
                    pairs.append((i, j, s))
    for i, j, _ in pairs:
        a, b = root(i), root(j)
        if a != b:
            parent[b] = a
    for i, _, s in pairs:
        weakest[root(i)] = min(weakest[root(i)], s)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ids)):
        groups[root(i)].append(i)
    out = []
    for key, members in groups.items():
        distinct = {labels[i] for i in members}
        if len(members) > 1 and len(distinct) > 1:
            listed = sorted(members, key=lambda i: (labels[i], ids[i]))[:MAX_GROUP]
            out.append(
                ConflictGroup(
                    members=[(ids[i], labels[i]) for i in listed],
                    size=len(members),
                    labels=len(distinct),
                    cosine=round(float(weakest[key]), 4),
                )
            )
    out.sort(key=lambda g: (-g.labels, -g.size, g.members[0][0]))
    return out

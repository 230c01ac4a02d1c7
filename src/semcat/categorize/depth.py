"""Which taxonomy levels are categories: the default depth of a prediction.

Many catalogs' paths go on past their categories into brand and product names (the
bundled flipkart sample's levels 4 and below: "Nutcase Water bottle", a full product
title). Such a level is no category to file under: predicting it returns a product's
name as its category. It shows in the labels themselves: most of its nodes hold a single
product. The default depth stops above the first such level (``SEMCAT_PREDICT_DEPTH``
overrides it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from semcat.catalog import PATH_JOIN
from semcat.options import CALIBRATION_RECIPE


def category_depth(
    path_counts: Mapping[str, int] | Iterable[str], alone: float = CALIBRATION_RECIPE.name_level_alone
) -> int | None:
    """The deepest level above the first one where more than ``alone`` of the labeled
    products that reach it are alone in their node; ``path_counts``: labeled products per
    full path (``' > '``-joined), or the labels themselves. None when nothing is labeled."""
    counts = path_counts if isinstance(path_counts, Mapping) else Counter(path_counts)
    paths = [(tuple(str(p).split(PATH_JOIN)), n) for p, n in counts.items() if p and n > 0]
    if not paths:
        return None
    deepest = max(len(p) for p, _ in paths)
    for level in range(2, deepest + 1):
        nodes: Counter[tuple[str, ...]] = Counter()
        for path, n in paths:
            if len(path) >= level:
                nodes[path[:level]] += n
        reaching = sum(nodes.values())
        if sum(1 for n in nodes.values() if n == 1) > alone * reaching:
            return level - 1
    return deepest

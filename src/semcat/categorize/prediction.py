"""What a categorizer returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from semcat.catalog import PATH_JOIN
from semcat.methods import KNN


@dataclass(frozen=True, slots=True)
class CategoryScore:
    category: str
    score: float


@dataclass(frozen=True, slots=True)
class LevelScore:
    """The chosen category at one taxonomy level (1 = main) and its mixed score (the
    product of the shares down to it), with the top-N scores of the categories at that
    level; ``confidence``: the calibrated probability that the path down to this level is
    right (:mod:`semcat.categorize.calibration`)."""

    level: int
    category: str
    score: float
    top: list[CategoryScore] = field(default_factory=list)
    confidence: float | None = None
    # the two voices mixed at this level, for the chosen category under its parent: the
    # neighbors' vote share and the linear head's probability (None: that voice was silent)
    vote: float | None = None
    head: float | None = None


@dataclass(frozen=True, slots=True)
class Neighbor:
    """A stored product that voted: its id, cosine similarity, label, title, the space
    (``text`` or ``image``) it was found in, and whether a photo is stored for it."""

    id: str
    score: float
    category: str | None
    title: str
    space: str = "text"
    image: bool = False


@dataclass(frozen=True, slots=True)
class Prediction:
    """A categorization.

    ``category`` is the predicted taxonomy path (' > '-joined), chosen level by level;
    ``confidence`` the estimated probability that this whole path is right (calibrated on
    the store's labeled products; ``calibrated`` false: the path's mixed score, not a
    probability); ``decision`` ``auto`` when the path can be filed without a look at the
    requested precision, else ``review``; ``uncertain`` is true when the path is more
    likely wrong than right (confidence below the uncertain threshold); ``score`` is the
    main category's (level 1) mixed score, uncalibrated; ``levels`` gives each level's
    choice, score and confidence; ``top`` the top-N full paths; ``neighbors`` the
    evidence; ``near_duplicate`` says the vote was left to near-duplicates of the query;
    ``modality`` which of the query's vectors decided (``text``, ``image`` or ``both``).
    """

    category: str | None
    score: float
    uncertain: bool
    levels: list[LevelScore]
    top: list[CategoryScore]
    neighbors: list[Neighbor]
    method: str = KNN
    near_duplicate: bool = False
    modality: str = "text"
    confidence: float | None = None
    decision: str = "review"
    decision_reason: str | None = None  # why a prediction goes to review (None: auto)
    calibrated: bool = False

    @property
    def main_category(self) -> str | None:
        return self.levels[0].category if self.levels else None

    @property
    def path(self) -> list[str]:
        return self.category.split(PATH_JOIN) if self.category else []

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["main_category"] = self.main_category
        return data


def prediction_row(product: Any, prediction: Prediction) -> dict[str, Any]:
    """One JSON-ready row: a product's prediction, the evidence, and its true label if it
    has one (the CLI's ``--json`` and files, and :func:`semcat.engine.categorize_frame`)."""
    return {
        "id": product.id,
        "title": product.title,
        "category": prediction.category,
        "main_category": prediction.main_category,
        "confidence": None if prediction.confidence is None else round(prediction.confidence, 4),
        "decision": prediction.decision,
        "decision_reason": prediction.decision_reason,
        "score": round(prediction.score, 4),
        "uncertain": prediction.uncertain,
        "near_duplicate": prediction.near_duplicate,
        "method": prediction.method,
        "modality": prediction.modality,
        "top": [{"category": c.category, "score": round(c.score, 4)} for c in prediction.top],
        "levels": [
            {
                "level": lv.level,
                "category": lv.category,
                "score": round(lv.score, 4),
                "confidence": None if lv.confidence is None else round(lv.confidence, 4),
                "top": [{"category": c.category, "score": round(c.score, 4)} for c in lv.top],  # as the API gives
            }
            for lv in prediction.levels
        ],
        "neighbors": [
            {
                "id": n.id,
                "score": round(n.score, 4),
                "category": n.category,
                "title": n.title,
                "space": n.space,
                "image": n.image,
            }
            for n in prediction.neighbors
        ],
        **({"true_category": product.category_path} if product.category else {}),
    }

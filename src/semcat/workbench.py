"""The review workbench: a file of new products categorized in the background, and what the
team does with each prediction (accept, correct, skip, in bulk, undo), with every label
change written through the engine under the product's own id (so the label history has
it and the next prediction learns from it) and the queue kept on the server
(:class:`semcat.review.sessions.ReviewSessions`).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semcat.catalog import PATH_JOIN, Product, parse_category, read_catalog
from semcat.catalog.writers import SafeDictWriter
from semcat.engine import CATEGORIZE_BATCH, Engine
from semcat.errors import ConflictError, InvalidInputError
from semcat.limits import MAX_REVIEW_ITEMS
from semcat.review.sessions import ACCEPTED, CATEGORIZING, CORRECTED, SKIPPED, TO_REVIEW, Item, ReviewSessions

ACTIONS = {"accept": ACCEPTED, "correct": CORRECTED, "skip": SKIPPED}
LABEL_WRITES = (ACCEPTED, CORRECTED)  # the states whose action stored a label
_PRODUCT_FIELDS = ("title", "description", "brand", "attributes")

_running: set[tuple[int, str]] = set()  # (engine, session) categorizing in this process
_running_lock = threading.Lock()


def open_session(engine: Engine, path: Path, name: str, options: dict[str, Any], fmt: str | None = None) -> str:
    """A new session of the catalog file's valid products (its bad rows reported by row
    number in the session); categorize it with :func:`categorize_session`."""
    engine.options(**options)  # out-of-bounds options are refused before anything is stored
    report = read_catalog(path, fmt=fmt, keep_rows=True)
    if len(report.products) > MAX_REVIEW_ITEMS:
        raise InvalidInputError(
            f"{name}: {len(report.products):,} products; a review session holds at most {MAX_REVIEW_ITEMS:,}"
        )
    if not report.products:
        reasons = "; ".join(str(r) for r in report.rejected[:5])
        raise InvalidInputError(f"{name}: no valid product to review" + (f" ({reasons})" if reasons else ""))
    items = []
    for product in report.products:
        row, cells = report.rows[product.id]
        fields = {f: getattr(product, f) for f in _PRODUCT_FIELDS} | {"image": product.image}
        items.append((row, product.id, cells, fields | {"category": product.category_path or None}))
    rejected = [(r.row, r.reason) for r in report.rejected]
    for pid, rows in report.duplicates.items():
        rejected.append((rows[0], f"id {pid!r} repeated in rows {rows}: the last one is kept"))
    return engine.reviews.create(name, items, report.header, options, rejected)


def categorize_session(engine: Engine, sid: str) -> None:
    """Categorize the session's items that have no prediction yet, a batch at a time
    (the progress is stored with each batch; a restarted server resumes where it stopped)."""
    key = (id(engine), sid)
    with _running_lock:
        if key in _running:
            return
        _running.add(key)
    sessions = engine.reviews
    try:
        options = sessions.session(sid)["options"]
        while True:
            _, waiting = sessions.items(sid, uncategorized=True, limit=CATEGORIZE_BATCH)
            if not waiting:
                break
            products = [_product(item, with_label=False) for item in waiting]
            predictions = engine.categorize(products, **options)
            done = [(item.position, _prediction(p)) for item, p in zip(waiting, predictions, strict=True)]
            sessions.store_predictions(sid, done)
        sessions.finish(sid)
    except Exception as exc:  # the session says why; the server goes on
        sessions.finish(sid, error=str(exc))
    finally:
        with _running_lock:
            _running.discard(key)


def start_categorizing(engine: Engine, sid: str) -> threading.Thread | None:
    """Categorize the session in a background thread, unless it is done or already
    running in this process."""
    if engine.reviews.session(sid)["status"] != CATEGORIZING or (id(engine), sid) in _running:
        return None
    thread = threading.Thread(target=categorize_session, args=(engine, sid), name=f"semcat-review-{sid}", daemon=True)
    thread.start()
    return thread


def _prediction(prediction: Any) -> dict[str, Any]:
    data = prediction.to_dict()
    data.pop("neighbors", None)
    data["neighbors"] = [
        {"id": n.id, "score": round(n.score, 4), "category": n.category, "title": n.title} for n in prediction.neighbors
    ]
    return data


def _product(item: Item, with_label: bool = True, category: str | None = None) -> Product:
    fields = item.product
    return Product.build(
        id=item.product_id,
        title=fields.get("title"),
        description=fields.get("description"),
        brand=fields.get("brand"),
        attributes=fields.get("attributes") or None,
        category=category if with_label else None,
    )


def act(
    engine: Engine,
    sid: str,
    position: int,
    action: str,
    category: str | None = None,
    version: int | None = None,
    actor: str | None = None,
) -> Item:
    """Accept the item's prediction, correct it to ``category`` (any level's path), or
    skip it. ``version``: the item's version the caller saw (an older one: 409, another
    tab acted first). Accepting and correcting store the product under its own id with
    that label (the label history records it, the next prediction reads it)."""
    if action not in ACTIONS:
        raise InvalidInputError(f"unknown action {action!r}: use {', '.join(ACTIONS)}")
    sessions = engine.reviews
    item = sessions.item(sid, position)
    if version is not None and version != item.version:
        raise ConflictError(
            f"item {position} of review session {sid!r} is at version {item.version}, not {version}: read it again"
        )
    return _apply(engine, sessions, [(item, ACTIONS[action], category)], actor)[0]


def accept_many(
    engine: Engine,
    sid: str,
    *,
    auto: bool = False,
    min_confidence: float | None = None,
    positions: Sequence[int] | None = None,
    actor: str | None = None,
) -> list[Item]:
    """Accept, in one write, the predictions of the items still to review that are
    ``auto`` (the service would file them itself), at or above ``min_confidence``, or at
    ``positions``; the items accepted."""
    if not auto and min_confidence is None and positions is None:
        raise InvalidInputError("say which items to accept: auto, min_confidence or positions")
    sessions = engine.reviews
    if positions is not None:
        _, known = sessions.items(sid, positions=positions)
        missing = sorted(set(positions) - {i.position for i in known})
        if missing:
            raise InvalidInputError(f"review session {sid!r} has no item {missing[0]}")
    _, chosen = sessions.items(
        sid,
        states=[TO_REVIEW],
        decision="auto" if auto else None,
        min_confidence=min_confidence,
        positions=positions,
    )
    chosen = [item for item in chosen if item.prediction and item.prediction.get("category")]
    return _apply(engine, sessions, [(item, ACCEPTED, None) for item in chosen], actor)


def _apply(
    engine: Engine, sessions: ReviewSessions, plan: Sequence[tuple[Item, str, str | None]], actor: str | None
) -> list[Item]:
    """Claim the items (their versions), store the labels the actions set (one engine
    write), then record the actions."""
    labels: dict[int, str | None] = {}
    for item, state, category in plan:
        if state == ACCEPTED:
            if item.prediction is None or not item.prediction.get("category"):
                raise ConflictError(f"item {item.position} of review session {item.session!r} has no prediction yet")
            labels[item.position] = item.prediction["category"]
        elif state == CORRECTED:
            path = parse_category(category)
            if not path:
                raise InvalidInputError("a correction needs the right category (e.g. 'Home > Decor > Vases')")
            labels[item.position] = PATH_JOIN.join(path)
        else:
            labels[item.position] = item.final
    claimed = sessions.claim([item for item, _, _ in plan])
    plan = [(fresh, state, category) for fresh, (_, state, category) in zip(claimed, plan, strict=True)]
    writes = [item for item, state, _ in plan if state in LABEL_WRITES]
    # what undo restores: whether each product was stored, and its label then; the write
    # itself says so (the indexer reads the stored labels anyway), no second read
    stored: dict[str, str | None] = {}
    if writes:
        summary = engine.upsert_products(
            [_product(item, category=labels[item.position]) for item in writes], via="review", actor=actor
        )
        changed = {pid: old for pid, old, _ in summary.label_changes}
        stored = {
            item.product_id: changed.get(item.product_id, labels[item.position])
            for item in writes
            if (summary.outcomes or {}).get(item.product_id) != "created"
        }
    return sessions.act_many(
        [
            (item, state, labels[item.position], item.product_id in stored, stored.get(item.product_id))
            for item, state, _ in plan
        ]
    )


def undo(engine: Engine, sid: str, actor: str | None = None) -> Item:
    """Undo the session's last action not undone yet: the item's state and final category
    as before, and the stored product's label as before it (a product the action added
    is removed)."""
    sessions = engine.reviews
    action = sessions.last_action(sid)
    if action is None:
        raise ConflictError(f"review session {sid!r} has nothing to undo")
    item = sessions.item(sid, action.position)
    if action.new_state in LABEL_WRITES:
        if not action.stored:
            engine.delete_product(item.product_id, via="review", actor=actor)
        else:
            engine.upsert_products([_product(item, category=action.stored_label)], via="review", actor=actor)
    return sessions.undone(action)


def export_csv(engine: Engine, sid: str) -> str:
    """The session as CSV in the file's order: the file's own columns, then the final
    category (accepted or corrected), the state, the prediction, its confidence and
    decision, each level's category and confidence, and the alternatives."""
    sessions = engine.reviews
    summary = sessions.session(sid)
    _, items = sessions.items(sid)
    deepest = max((len((i.prediction or {}).get("levels", [])) for i in items), default=0)
    per_level = [name for n in range(1, deepest + 1) for name in (f"level_{n}", f"level_{n}_confidence")]
    added = ["final_category", "state", "predicted_category", "confidence", "decision", *per_level, "alternatives"]
    header = list(summary["header"]) + [name for name in added if name not in summary["header"]]
    out = io.StringIO()
    writer = SafeDictWriter(out, header)
    writer.writeheader()
    for item in items:
        prediction = item.prediction or {}
        row = dict(item.cells) | {
            "final_category": item.final if item.state in LABEL_WRITES else "",
            "state": item.state,
            "predicted_category": prediction.get("category") or "",
            "confidence": "" if prediction.get("confidence") is None else round(prediction["confidence"], 4),
            "decision": prediction.get("decision", ""),
            "alternatives": "; ".join(c["category"] for c in prediction.get("top", [])[1:]),
        }
        for level in prediction.get("levels", []):
            row[f"level_{level['level']}"] = level["category"].split(PATH_JOIN)[-1]
            confidence = level.get("confidence")
            row[f"level_{level['level']}_confidence"] = "" if confidence is None else round(confidence, 4)
        writer.writerow(row)
    return out.getvalue()


__all__ = [
    "ACTIONS",
    "accept_many",
    "act",
    "categorize_session",
    "export_csv",
    "open_session",
    "start_categorizing",
    "undo",
]

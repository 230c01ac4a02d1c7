"""``/reviews``: review sessions kept on the server (:mod:`semcat.workbench`).

Upload a catalog file (CSV, TSV, JSONL, Parquet): its valid products are categorized in the
background (``GET /reviews/{id}`` shows the progress), its bad rows reported by row number.
Then list the items with filters and paging, accept / correct / skip each (with the version
read: a stale one is 409), accept many at once, undo the last actions, and export the file
back with the decisions. Every tab and client sees the same session; accepting or
correcting stores the product under its own id (the label history records it)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from semcat import workbench
from semcat.api.deps import UNAUTHORIZED, WRITE, ActorDep, EngineDep
from semcat.catalog.readers import detect_format
from semcat.errors import CatalogError, InvalidInputError
from semcat.limits import MAX_CATEGORY_FILTER_CHARS, MAX_PAGE, MAX_REVIEW_ITEMS, PAGE
from semcat.options import CategoryFilter, Depth, Modality, Neighbors, Precision
from semcat.review.sessions import STATES

router = APIRouter(tags=["reviews"])

# an item's place in its session, and an action's version of it
Position = Annotated[int, Field(ge=0, lt=MAX_REVIEW_ITEMS)]
# at most 2**53: the largest integer a JavaScript client (the page) holds exactly, and one a
# float comparison cannot blur (at 2**62, 2**62 + 95 read as 2**62 and passed a schema check)
Version = Annotated[int, Field(ge=0, le=2**53)]
SessionId = Annotated[str, PathParam(max_length=64, description="The session's id.")]
ItemPosition = Annotated[int, PathParam(ge=0, lt=MAX_REVIEW_ITEMS, description="The item's position.")]


class RejectedOut(BaseModel):
    row: int
    reason: str


class SessionOut(BaseModel):
    id: str
    name: str
    created: float = Field(description="Seconds since the epoch.")
    status: Literal["categorizing", "ready", "failed"]
    total: int = Field(description="Products in the session (the file's valid rows).")
    categorized: int
    error: str | None = Field(description="Why the categorization failed (status 'failed').")
    states: dict[str, int] = Field(description="Items per state: to review, accepted, corrected, skipped.")
    auto: int = Field(description="Items the service would file automatically (decision 'auto').")
    header: list[str] = Field(description="The file's columns, exported back in this order.")
    options: dict[str, Any]
    rejected: list[RejectedOut] = Field(description="The file's rows left out, by row number, and why.")


class ItemOut(BaseModel):
    position: int = Field(description="The item's place in the session, from 0 (the file's order).")
    row: int = Field(description="Its line in the file (a CSV header is line 1), as the rejected rows are numbered.")
    id: str
    product: dict[str, Any]
    prediction: dict[str, Any] | None = Field(description="Null until categorized.")
    state: str
    final: str | None = Field(description="The category it was accepted or corrected to.")
    version: int = Field(description="Bumped by every action: send it back with the next one.")


class ItemsOut(BaseModel):
    total: int = Field(description="Items matching the filters.")
    offset: int
    items: list[ItemOut]


class ActionIn(BaseModel):
    model_config = {"extra": "forbid"}

    action: Literal["accept", "correct", "skip"]
    category: CategoryFilter | None = Field(None, description="The right category (correct).")
    version: Version | None = Field(None, description="The item's version as read (a newer one exists: 409).")


class BulkIn(BaseModel):
    model_config = {"extra": "forbid"}

    auto: bool = Field(False, description="Accept every item still to review that would be filed automatically.")
    min_confidence: float | None = Field(None, ge=0.0, le=1.0, description="...or every one at least this confident.")
    positions: list[Position] | None = Field(None, max_length=100_000, description="...or these items.")


class BulkOut(BaseModel):
    accepted: int
    items: list[ItemOut]


_UNDER = "Only items predicted under this category."
_ORDER = "The file's order, or the least confident first."


def _item(item: Any) -> ItemOut:
    return ItemOut(**item.to_dict())


@router.post("/reviews", response_model=SessionOut, status_code=201, dependencies=WRITE, responses=UNAUTHORIZED)
async def create_review(
    engine: EngineDep,
    file: Annotated[UploadFile, File(description="A catalog file: CSV, TSV, JSONL or Parquet.")],
    name: Annotated[str | None, Form(max_length=200)] = None,
    method: Annotated[str | None, Form()] = None,
    modality: Annotated[Modality | None, Form()] = None,
    k: Annotated[Neighbors | None, Form()] = None,
    depth: Annotated[Depth | None, Form()] = None,
    auto_precision: Annotated[Precision | None, Form()] = None,
) -> SessionOut:
    """Start a review session: the file's valid products, categorized in the background."""
    # the name messages and the session use: no folders, no odd characters (a NUL cannot be a file name)
    filename = re.sub(r"[^\w.\- ]", "_", Path(file.filename or "").name)[:100].strip(". ") or "upload.csv"
    options = {
        key: value
        for key, value in {"method": method, "modality": modality, "k": k, "depth": depth}.items()
        if value is not None
    }
    if auto_precision is not None:
        options["auto_precision"] = auto_precision
    raw = await file.read()
    if not raw:
        raise InvalidInputError(f"{filename} is empty")

    def start() -> str:
        with tempfile.TemporaryDirectory(prefix="semcat-review-") as tmp:
            path = Path(tmp) / (filename if Path(filename).suffix else f"{filename}.csv")  # messages name it
            path.write_bytes(raw)
            try:
                fmt = detect_format(path)
            except CatalogError as exc:
                raise InvalidInputError(f"{filename}: {exc}") from None
            sid = workbench.open_session(engine, path, name or filename, options, fmt=fmt)
        workbench.start_categorizing(engine, sid)
        return sid

    sid = await run_in_threadpool(start)
    return SessionOut(**engine.reviews.session(sid))


@router.get("/reviews", response_model=list[SessionOut])
async def list_reviews(engine: EngineDep) -> list[SessionOut]:
    """Every review session of the store, the newest first."""
    return [SessionOut(**s) for s in await run_in_threadpool(engine.reviews.sessions)]


@router.get("/reviews/{sid}", response_model=SessionOut)
async def get_review(sid: SessionId, engine: EngineDep) -> SessionOut:
    """A session's progress and counts (a session a restarted server left half categorized
    resumes here)."""
    summary = await run_in_threadpool(engine.reviews.session, sid)
    workbench.start_categorizing(engine, sid)
    return SessionOut(**summary)


@router.get("/reviews/{sid}/items", response_model=ItemsOut)
async def review_items(
    sid: SessionId,
    engine: EngineDep,
    state: Annotated[list[Literal[STATES]] | None, Query(description="Only these states.")] = None,  # type: ignore[valid-type]
    decision: Annotated[Literal["auto", "review"] | None, Query()] = None,
    min_confidence: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    max_confidence: Annotated[float | None, Query(ge=0.0, le=1.0, description="Exclusive.")] = None,
    category: Annotated[str | None, Query(max_length=MAX_CATEGORY_FILTER_CHARS, description=_UNDER)] = None,
    order: Annotated[Literal["position", "confidence"], Query(description=_ORDER)] = "position",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
) -> ItemsOut:
    """The session's items matching every filter given, a page at a time."""
    total, items = await run_in_threadpool(
        lambda: engine.reviews.items(
            sid,
            states=state or (),
            decision=decision,
            min_confidence=min_confidence,
            max_confidence=max_confidence,
            category=category,
            order=order,
            offset=offset,
            limit=limit,
        )
    )
    return ItemsOut(total=total, offset=offset, items=[_item(i) for i in items])


@router.post("/reviews/{sid}/items/{position}", response_model=ItemOut, dependencies=WRITE, responses=UNAUTHORIZED)
async def act_on_item(
    sid: SessionId, position: ItemPosition, body: ActionIn, engine: EngineDep, actor: ActorDep
) -> ItemOut:
    """Accept the item's prediction, correct it (``category``: any level's path), or skip
    it; accepting and correcting store the product under its own id with that label."""
    item = await run_in_threadpool(
        lambda: workbench.act(engine, sid, position, body.action, body.category, body.version, actor=actor)
    )
    return _item(item)


@router.post("/reviews/{sid}/accept", response_model=BulkOut, dependencies=WRITE, responses=UNAUTHORIZED)
async def accept_many(sid: SessionId, body: BulkIn, engine: EngineDep, actor: ActorDep) -> BulkOut:
    """Accept, in one write, the items still to review that are ``auto``, at least
    ``min_confidence``, or at ``positions``."""
    items = await run_in_threadpool(
        lambda: workbench.accept_many(
            engine, sid, auto=body.auto, min_confidence=body.min_confidence, positions=body.positions, actor=actor
        )
    )
    return BulkOut(accepted=len(items), items=[_item(i) for i in items])


@router.post("/reviews/{sid}/undo", response_model=ItemOut, dependencies=WRITE, responses=UNAUTHORIZED)
async def undo(sid: SessionId, engine: EngineDep, actor: ActorDep) -> ItemOut:
    """Undo the session's last action not undone yet (409 when there is none): the item as
    before it, and the stored product's label as before it."""
    return _item(await run_in_threadpool(lambda: workbench.undo(engine, sid, actor=actor)))


@router.get(
    "/reviews/{sid}/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The session as CSV, in the file's order."}},
)
async def export(sid: SessionId, engine: EngineDep) -> Response:
    """The file's rows in its order, its own columns, then the final category, state,
    prediction, confidence, decision, each level and the alternatives."""
    text = await run_in_threadpool(workbench.export_csv, engine, sid)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="review-{sid}.csv"'},
    )

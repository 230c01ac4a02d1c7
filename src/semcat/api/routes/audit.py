"""``/audit``: the stored products whose label is probably wrong (:mod:`semcat.auditing`).

``POST /audit`` starts a full audit in the background (reads keep answering; ``GET
/audit`` shows its state); ``GET /audit`` lists the latest finished audit's suspects, the
most likely wrong first, each with its stored and current label, the suggested category,
the level where they part and the neighbors that voted; ``GET /audit/conflicts`` the
groups of near-duplicates filed under different labels. Correct a suspect with ``PATCH
/products/{id}``; keep it as it is with ``POST /audit/{id}/keep`` (it leaves the list
until its label or its neighbors change)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from semcat import auditing
from semcat.api.deps import UNAUTHORIZED, WRITE, ActorDep, EngineDep
from semcat.categorize.audit import Suspect
from semcat.engine import Engine
from semcat.limits import MAX_CATEGORY_DEPTH, MAX_CATEGORY_FILTER_CHARS, MAX_PAGE, PAGE

router = APIRouter(tags=["audit"])


class AuditState(BaseModel):
    state: str = Field(description="The latest audit: 'never run', 'running', 'done' or 'failed'.")
    message: str | None = Field(None, description="Why it failed.")
    suspects: int | None = Field(None, description="Suspects in the latest finished audit (kept ones left out).")
    conflicts: int | None = Field(None, description="Conflicting near-duplicate groups in it.")
    singletons: int | None = Field(None, description="Categories with a single labeled product (not judged).")
    products: int | None = Field(None, description="Labeled products it audited.")
    seconds: float | None = Field(None, description="How long it took.")
    finished: float | None = Field(None, description="When it finished (seconds since the epoch).")
    stale: bool | None = Field(None, description="The store changed since it was read.")
    per_main: dict[str, int] = Field(default_factory=dict, description="Suspects per main category, the most first.")


class EvidenceOut(BaseModel):
    id: str
    score: float = Field(description="Its cosine to the suspect.")
    category: str | None
    title: str | None = Field(description="Null when no longer stored.")


class SuspectOut(BaseModel):
    id: str
    title: str | None = Field(description="Null when the product is no longer stored.")
    label: str = Field(description="The label the audit judged.")
    current: str | None = Field(description="The stored label now (a correction since shows here).")
    suggested: str | None = Field(description="What its neighbors and the head say, without its own label.")
    suggested_score: float = Field(description="The suggestion's share down to the level where they part.")
    level: int = Field(description="The first level where the label and the suggestion part (1 = main).")
    label_score: float = Field(description="The share the prediction gives the label down to that level.")
    nearest_same_label: float | None = Field(
        description="The cosine of the closest other product stored under the same label (null: no other is). "
        "Low: nothing alike shares the label."
    )
    label_confidence: float | None = Field(
        None,
        description="The estimated probability that the stored label is right, by the store's confidence calibrator "
        "(null: an audit from before it, or too few labeled products to calibrate).",
    )
    suggested_confidence: float | None = Field(
        None,
        description="The estimated probability that the suggestion is right down to the level where it parts from "
        "the label (null: no suggestion that parts from it, or no calibration).",
    )
    kept: bool = Field(description="A reviewer kept the label as it is.")
    neighbors: list[EvidenceOut]


class SuspectsOut(BaseModel):
    audit: AuditState
    total: int = Field(description="Suspects matching the filters.")
    offset: int
    items: list[SuspectOut]


class ConflictOut(BaseModel):
    size: int = Field(description="Products in the group.")
    labels: int = Field(description="Distinct labels among them.")
    cosine: float = Field(description="The lowest similarity linking a member to the group.")
    members: list[EvidenceOut] = Field(description="Up to 50 members, grouped by label (score: 1).")


class ConflictsOut(BaseModel):
    total: int
    offset: int
    groups: list[ConflictOut]


def _titles(engine: Engine, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {r.id: r.payload for r in engine.store().get(list(dict.fromkeys(ids)))}


def _evidence(pid: str, score: float, category: str | None, stored: dict[str, dict[str, Any]]) -> EvidenceOut:
    return EvidenceOut(id=pid, score=score, category=category, title=(stored.get(pid) or {}).get("title"))


def _suspects(
    engine: Engine, category: str | None, level: int | None, include_kept: bool, offset: int, limit: int
) -> SuspectsOut:
    state = AuditState(**auditing.status(engine))
    if state.suspects is None:
        return SuspectsOut(audit=state, total=0, offset=offset, items=[])
    run = auditing.latest_run(engine)
    total, page = engine.audits.suspects(
        run, category=category, level=level, include_kept=include_kept, offset=offset, limit=limit
    )
    return SuspectsOut(audit=state, total=total, offset=offset, items=_items(engine, page))


def _items(engine: Engine, page: list[tuple[Suspect, bool]]) -> list[SuspectOut]:
    """Suspects as the API shows them: with their titles, their labels now, their neighbors' titles."""
    stored = _titles(engine, [s.id for s, _ in page] + [n.id for s, _ in page for n in s.neighbors])
    items = []
    for suspect, kept in page:
        own = stored.get(suspect.id)
        items.append(
            SuspectOut(
                id=suspect.id,
                title=own.get("title") if own else None,
                label=suspect.label,
                current=own.get("category") if own else None,
                suggested=suspect.suggested,
                suggested_score=suspect.suggested_score,
                level=suspect.level,
                label_score=suspect.label_score,
                nearest_same_label=suspect.nearest_same_label,
                label_confidence=suspect.label_confidence,
                suggested_confidence=suspect.suggested_confidence,
                kept=kept,
                neighbors=[_evidence(n.id, n.score, n.category, stored) for n in suspect.neighbors],
            )
        )
    return items


@router.get("/audit", response_model=SuspectsOut)
async def audit_suspects(
    engine: EngineDep,
    category: Annotated[
        str | None, Query(max_length=MAX_CATEGORY_FILTER_CHARS, description="Only labels under this path.")
    ] = None,
    level: Annotated[
        int | None, Query(ge=1, le=MAX_CATEGORY_DEPTH, description="Only suspects parting at this level.")
    ] = None,
    include_kept: Annotated[bool, Query(description="List the suspects kept as they are too.")] = False,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
) -> SuspectsOut:
    """The latest finished audit's suspects, the most likely wrong first, and the state of
    the latest audit (a running one's results replace these when it finishes)."""
    return await run_in_threadpool(_suspects, engine, category or None, level, include_kept, offset, limit)


@router.get("/audit/conflicts", response_model=ConflictsOut)
async def audit_conflicts(
    engine: EngineDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
) -> ConflictsOut:
    """Groups of near-duplicates (at the categorizer's near-duplicate cosine) filed under
    different labels, the most labels and the largest first; each group once."""

    def read() -> ConflictsOut:
        total, groups = engine.audits.conflicts(auditing.latest_run(engine), offset, limit)
        stored = _titles(engine, [pid for g in groups for pid, _ in g.members])
        return ConflictsOut(
            total=total,
            offset=offset,
            groups=[
                ConflictOut(
                    size=g.size,
                    labels=g.labels,
                    cosine=g.cosine,
                    members=[_evidence(pid, 1.0, label, stored) for pid, label in g.members],
                )
                for g in groups
            ],
        )

    return await run_in_threadpool(read)


@router.post("/audit", response_model=AuditState, status_code=202, dependencies=WRITE, responses=UNAUTHORIZED)
async def start_audit(engine: EngineDep) -> AuditState:
    """Start a full audit in the background (409 while one runs): every labeled product
    categorized without its own fold, then cleanlab's confident learning per level."""
    await run_in_threadpool(auditing.start, engine)
    return AuditState(**auditing.status(engine))


@router.post("/audit/{product_id:path}/keep", response_model=SuspectOut, dependencies=WRITE, responses=UNAUTHORIZED)
async def keep_label(product_id: str, engine: EngineDep, actor: ActorDep) -> SuspectOut:
    """Keep a suspect's label as it is: it leaves the list until its label or the neighbors
    that made it suspect change. 404 when it is not among the latest audit's suspects."""

    def keep() -> SuspectOut:
        return _items(engine, [(auditing.keep(engine, product_id, actor), True)])[0]

    return await run_in_threadpool(keep)

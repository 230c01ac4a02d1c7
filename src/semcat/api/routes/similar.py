"""``/similar``: stored products nearest to a text, a stored product, or a photo."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from semcat.api.deps import EngineDep
from semcat.api.schemas import ProductOut, SimilarHit, SimilarRequest, SimilarResponse
from semcat.images import decode_base64
from semcat.options import SIMILAR_K, CategoryFilter, Neighbors

router = APIRouter(tags=["search"])


def _results(hits: list[Any]) -> SimilarResponse:
    return SimilarResponse(
        results=[SimilarHit(id=h.id, score=h.score, product=ProductOut.from_payload(h.payload)) for h in hits]
    )


@router.post("/similar", response_model=SimilarResponse)
async def similar(body: SimilarRequest, engine: EngineDep) -> SimilarResponse:
    """Stored products nearest to a text, a stored product, or a base64 photo."""
    image = decode_base64(body.image_base64) if body.image_base64 is not None else None
    hits = await run_in_threadpool(
        lambda: engine.similar(text=body.text, product_id=body.id, image=image, k=body.k, category=body.category)
    )
    return _results(hits)


@router.post("/similar/image", response_model=SimilarResponse)
async def similar_upload(
    engine: EngineDep,
    image: Annotated[UploadFile, File(description="The photo to search by.")],
    k: Annotated[Neighbors, Form(description="How many products.")] = SIMILAR_K,
    category: Annotated[CategoryFilter | None, Form(description="Only products under this category.")] = None,
) -> SimilarResponse:
    """Stored products whose photos are nearest to an uploaded photo (CLIP models)."""
    raw = await image.read()
    return _results(await run_in_threadpool(lambda: engine.similar(image=raw, k=k, category=category)))

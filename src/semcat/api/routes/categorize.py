"""``/categorize``: one product or a batch, as JSON (photos as base64) or a multipart upload."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from semcat import limits
from semcat.api.batcher import CallBatcher
from semcat.api.deps import CallsDep, EngineDep, SettingsDep, check_batch
from semcat.api.schemas import CategorizeRequest, CategorizeResponse, ItemIn, PredictionOut
from semcat.catalog import Product, clean_text, parse_attributes
from semcat.engine import Engine
from semcat.images import decode_base64

router = APIRouter(tags=["categorize"])


def _product(index: int, item: ItemIn) -> Product:
    return Product(
        id=f"item-{index}",
        title=clean_text(item.title),
        description=clean_text(item.description),
        brand=clean_text(item.brand),
        attributes=parse_attributes(item.attributes),
    )


async def _categorize(
    engine: Engine,
    items: list[ItemIn],
    images: list[bytes | None],
    options: dict[str, Any],
    calls: CallBatcher | None = None,
) -> CategorizeResponse:
    products = [_product(i, item) for i, item in enumerate(items)]
    given = images if any(raw is not None for raw in images) else None
    if calls is not None and given is None and len(products) == 1:
        # merged with concurrent one-product requests of the same options into one engine call
        predictions = [await calls.submit(tuple(sorted(options.items())), products[0])]
    else:
        predictions = await run_in_threadpool(lambda: engine.categorize(products, images=given, **options))
    return CategorizeResponse(predictions=[PredictionOut(**p.to_dict()) for p in predictions], model=engine.model_name)


@router.post("/categorize", response_model=CategorizeResponse)
async def categorize(
    body: CategorizeRequest, engine: EngineDep, settings: SettingsDep, calls: CallsDep
) -> CategorizeResponse:
    """Categorize one product or a batch by kNN vote over the stored labeled products
    (or zero-shot / hybrid). Items may carry a base64 photo (CLIP models)."""
    items = body.products()
    check_batch(len(items), settings)
    images = [
        decode_base64(it.image_base64, f"items[{i}].image_base64") if it.image_base64 else None
        for i, it in enumerate(items)
    ]
    return await _categorize(engine, items, images, body.options(), calls)


@router.post("/categorize/image", response_model=CategorizeResponse)
async def categorize_upload(
    engine: EngineDep,
    image: Annotated[UploadFile, File(description="The product photo (JPEG, PNG, WebP...).")],
    title: Annotated[str, Form(max_length=2_000)] = "",
    description: Annotated[str, Form(max_length=50_000)] = "",
    brand: Annotated[str, Form(max_length=500)] = "",
    attributes: Annotated[str, Form(max_length=50_000)] = "",
    method: Annotated[str | None, Form(pattern="^(knn|zero-shot|hybrid)$")] = None,
    modality: Annotated[str | None, Form(pattern="^(text|image|both)$")] = None,
    k: Annotated[int | None, Form(ge=1, le=limits.MAX_K)] = None,
    top_n: Annotated[int | None, Form(ge=1, le=limits.MAX_TOP_N)] = None,
    depth: Annotated[int | None, Form(ge=1, le=limits.MAX_CATEGORY_DEPTH)] = None,
    category: Annotated[str | None, Form(max_length=limits.MAX_CATEGORY_FILTER_CHARS)] = None,
    auto_precision: Annotated[float | None, Form(gt=0.5, lt=1.0)] = None,
) -> CategorizeResponse:
    """Categorize one product from an uploaded photo (multipart form), with optional text."""
    raw = await image.read()
    item = ItemIn.model_construct(
        title=title, description=description, brand=brand, attributes=attributes or None, image_base64=None
    )
    options = {
        "k": k,
        "top_n": top_n,
        "depth": depth,
        "category": category,
        "method": method,
        "modality": modality,
        "auto_precision": auto_precision,
    }
    return await _categorize(engine, [item], [raw], options)

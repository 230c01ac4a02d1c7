"""``/categorize``: one product or a batch, as JSON (photos as base64) or a multipart upload."""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool

from semcat.api.batcher import CallBatcher
from semcat.api.deps import CallsDep, EngineDep, SettingsDep, check_batch, check_work, keyless_turn
from semcat.api.errors import OverTimeError
from semcat.api.schemas import CategorizeRequest, CategorizeResponse, ItemIn, PredictionOut, UploadForm
from semcat.catalog import Product, clean_text, parse_attributes
from semcat.categorize.prediction import Prediction
from semcat.engine import Engine
from semcat.images import decode_base64
from semcat.options import RequestOptions

router = APIRouter(tags=["categorize"])


def _product(index: int, item: ItemIn) -> Product:
    return Product(
        id=item.id or f"item-{index}",
        title=clean_text(item.title),
        description=clean_text(item.description),
        brand=clean_text(item.brand),
        attributes=parse_attributes(item.attributes),
    )


async def _categorize(
    request: Request,
    engine: Engine,
    items: list[ItemIn],
    images: list[bytes | None],
    form: RequestOptions,
    calls: CallBatcher | None = None,
) -> CategorizeResponse:
    options = form.options()
    check_work(len(items), options, engine.settings)
    products = [_product(i, item) for i, item in enumerate(items)]
    given = images if any(raw is not None for raw in images) else None
    async with await keyless_turn(request, len(products)):
        if calls is not None and given is None and len(products) == 1:
            # merged with concurrent one-product requests of the same options into one engine call
            predictions = [await calls.submit(tuple(sorted(options.items())), products[0])]
        else:
            predictions = await _within_time(engine, products, given, options)
    shown = form.neighbors  # the answer lists the closest few, however many voted
    return CategorizeResponse(
        predictions=[
            PredictionOut(**replace(p, neighbors=p.neighbors[:shown]).to_dict(), id=item.id)
            for item, p in zip(items, predictions, strict=True)
        ],
        model=engine.model.name,
    )


# products categorized between two looks at the clock: a call stops at most one chunk after
# its time budget (a full batch at the default SEMCAT_MAX_BATCH, 256 products, is 8 chunks)
TIME_CHECK_ITEMS = 32


async def _within_time(
    engine: Engine, products: list[Product], images: list[bytes | None] | None, options: dict[str, Any]
) -> list[Prediction]:
    """``engine.categorize`` a chunk at a time, stopping once the call has worked longer than
    ``SEMCAT_REQUEST_TIME_S``: a categorization runs in a worker thread that cannot be
    interrupted, so the budget is kept between chunks, and what was not started is not done."""
    budget = engine.settings.request_time_s
    start = time.monotonic()
    out: list[Prediction] = []
    for first in range(0, len(products), TIME_CHECK_ITEMS):
        if first and time.monotonic() - start > budget:
            raise OverTimeError(
                f"the call passed its time budget ({budget:g} s, SEMCAT_REQUEST_TIME_S) after {first} of "
                f"{len(products)} products: send fewer per call, or retry when the server is less busy"
            )
        part = slice(first, first + TIME_CHECK_ITEMS)
        out += await run_in_threadpool(
            partial(engine.categorize, products[part], images=None if images is None else images[part], **options)
        )
    return out


@router.post("/categorize", response_model=CategorizeResponse)
async def categorize(
    request: Request, body: CategorizeRequest, engine: EngineDep, settings: SettingsDep, calls: CallsDep
) -> CategorizeResponse:
    """Categorize one product or a batch by kNN vote over the stored labeled products
    (or zero-shot / hybrid). Items may carry a base64 photo (CLIP models)."""
    items = body.products()
    check_batch(len(items), settings)
    images = [
        decode_base64(it.image_base64, f"items[{i}].image_base64") if it.image_base64 else None
        for i, it in enumerate(items)
    ]
    return await _categorize(request, engine, items, images, body, calls)


@router.post("/categorize/image", response_model=CategorizeResponse)
async def categorize_upload(
    request: Request, engine: EngineDep, form: Annotated[UploadForm, Form()]
) -> CategorizeResponse:
    """Categorize one product from an uploaded photo (multipart form), with optional text."""
    raw = await form.image.read()
    item = ItemIn.model_construct(
        id=None,
        title=form.title,
        description=form.description,
        brand=form.brand,
        attributes=form.attributes or None,
        image_base64=None,
    )
    return await _categorize(request, engine, [item], [raw], form)

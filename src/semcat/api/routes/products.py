"""``/products`` (read, upsert, delete) and ``/categories`` (products per category).

Product ids may hold ``/`` (real SKUs do): the id is the rest of the path, percent-encoded
or not, so every id ``POST /products`` accepts is reachable by GET, PUT and DELETE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from semcat.api.deps import UNAUTHORIZED, WRITE, ActorDep, EngineDep, SettingsDep, WritesDep, check_batch
from semcat.api.schemas import (
    BatchUpsertResult,
    CategoriesResponse,
    CategoryCount,
    ChangeOut,
    HistoryOut,
    ProductId,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductsRequest,
    RelabelIn,
    UpsertResult,
)
from semcat.catalog import Product, parse_category
from semcat.engine import Engine, browse, label_history, relabel
from semcat.errors import NotFoundError
from semcat.images import ImageError, resolve_image
from semcat.limits import MAX_CATEGORY_FILTER_CHARS, MAX_PAGE, PAGE

router = APIRouter(tags=["products"])


def _product(product_id: str, body: ProductIn) -> Product:
    return Product.build(
        id=product_id,
        title=body.title,
        description=body.description,
        brand=body.brand,
        category=body.category,
        attributes=body.attributes,
    )


def upsert_in_order(engine: Engine, products: list[Product], actor: str | None = None) -> list[str]:
    """Store one-product writes (merged by the API's write batcher, those of one key's name
    together, or one alone) as if applied in arrival order: an id written twice keeps its
    last version; each write is answered with what happened to its id (created, updated,
    relabeled, unchanged)."""
    last = {p.id: p for p in products}
    outcomes = engine.upsert_products(list(last.values()), actor=actor).outcomes or {}
    return [outcomes[p.id] for p in products]


@router.get("/products/{product_id:path}/history", response_model=HistoryOut, operation_id="product_history")
async def product_history(product_id: ProductId, engine: EngineDep) -> HistoryOut:
    """Every change of the product's label, oldest first: when, the label before and after
    (null: new or unlabeled; removed or deleted), and what made it (``cli``: `semcat index`,
    ``api``: these routes, ``review``: a review session, ``python``: a library call). A
    deleted product keeps its history. 404 when the id was never stored. (No id ends in
    ``/history``: such an id is refused.)"""
    changes = await run_in_threadpool(label_history, engine, product_id)
    return HistoryOut(id=product_id, changes=[ChangeOut.of(c) for c in changes])


@router.api_route("/products/{product_id:path}/history", methods=["PUT", "PATCH", "DELETE"], include_in_schema=False)
async def history_is_read_only(product_id: str) -> None:
    """A write to a product's history path is a method the path does not take (without this
    route it reached the product routes as the id ``<id>/history``, refused only by the id rule)."""
    raise HTTPException(405, headers={"Allow": "GET, HEAD, OPTIONS"})


@router.get("/products", response_model=ProductPage, operation_id="list_products")
async def list_products(
    engine: EngineDep,
    category: Annotated[
        str | None,
        Query(max_length=MAX_CATEGORY_FILTER_CHARS, description="Only products under this path (any level)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
    cursor: Annotated[
        str | None, Query(max_length=100, description="The previous page's `next`; omit for the first page.")
    ] = None,
) -> ProductPage:
    """The stored products, or those under a category, a page at a time, in an order that
    holds from page to page; ``next`` is the following page's cursor (null: the last)."""
    total, payloads, following = await run_in_threadpool(browse, engine, category or None, limit, cursor)
    return ProductPage(
        category=category or None,
        total=total,
        products=[ProductOut.from_payload(p) for p in payloads],
        next=following,
    )


@router.patch("/products/{product_id:path}", response_model=UpsertResult, dependencies=WRITE, responses=UNAUTHORIZED)
async def relabel_product(product_id: ProductId, body: RelabelIn, engine: EngineDep, actor: ActorDep) -> UpsertResult:
    """Change one stored product's label, keeping its text, photo and attributes (nothing
    is embedded again); recorded in its label history. ``category`` null: unlabeled.
    404 when the id is not stored."""
    levels = parse_category(body.category)
    status = await run_in_threadpool(lambda: relabel(engine, product_id, levels, actor=actor))
    return UpsertResult(id=product_id, status=status)


@router.get("/products/{product_id:path}", response_model=ProductOut, operation_id="get_product")
async def get_product(product_id: ProductId, engine: EngineDep) -> ProductOut:
    return ProductOut.from_payload(await run_in_threadpool(engine.get_product, product_id))


@router.put("/products/{product_id:path}", response_model=UpsertResult, dependencies=WRITE, responses=UNAUTHORIZED)
async def put_product(
    product_id: ProductId, body: ProductIn, engine: EngineDep, writes: WritesDep, actor: ActorDep
) -> UpsertResult:
    """Create or replace one product; searchable and voting from the next request."""
    product = _product(product_id, body)
    if writes is not None:  # merged with the writes queued meanwhile into one transaction
        status = await writes.submit(actor, product)
    else:
        (status,) = await run_in_threadpool(upsert_in_order, engine, [product], actor)
    return UpsertResult(id=product.id, status=status)


@router.post("/products", response_model=BatchUpsertResult, dependencies=WRITE, responses=UNAUTHORIZED)
async def post_products(
    body: ProductsRequest, engine: EngineDep, settings: SettingsDep, actor: ActorDep
) -> BatchUpsertResult:
    """Create or replace a batch of products (labeled or not). A repeated id: the last one wins."""
    check_batch(len(body.items), settings)
    by_id: dict[str, Product] = {}
    duplicates: list[str] = []
    for item in body.items:
        product = _product(item.id, item)
        if product.id in by_id:
            duplicates.append(product.id)
            by_id.pop(product.id)
        by_id[product.id] = product
    summary = await run_in_threadpool(lambda: engine.upsert_products(list(by_id.values()), actor=actor))
    return BatchUpsertResult(
        received=len(body.items),
        indexed=summary.embedded,
        new=summary.new,
        changed=summary.changed,
        relabeled=summary.relabeled,
        unchanged=summary.unchanged,
        duplicate_ids=sorted(set(duplicates)),
    )


@router.delete("/products/{product_id:path}", status_code=204, dependencies=WRITE, responses=UNAUTHORIZED)
async def delete_product(product_id: ProductId, engine: EngineDep, actor: ActorDep) -> Response:
    await run_in_threadpool(lambda: engine.delete_product(product_id, actor=actor))
    return Response(status_code=204)


def _photo(engine: Engine, product_id: str) -> Path:
    """The stored photo of a product: its catalog image path resolved under the images
    root with the indexer's guard (never a path a client names)."""
    reference = engine.get_product(product_id).get("image")
    root = engine.settings.images_root
    if not reference or root is None:
        raise NotFoundError(f"product {product_id!r} has no stored photo")
    try:
        return resolve_image(str(reference), root)
    except ImageError:
        raise NotFoundError(f"the photo of product {product_id!r} is not available") from None


@router.get(
    "/images/{product_id:path}",
    response_class=FileResponse,
    responses={200: {"content": {"image/*": {}}, "description": "The product's stored photo."}},
)
async def product_image(product_id: ProductId, engine: EngineDep) -> FileResponse:
    """A stored product's photo, read from the images root (the indexer's path guard applies;
    no client ever names a path). 404 when the product has none."""
    return FileResponse(await run_in_threadpool(_photo, engine, product_id))


@router.get("/categories", response_model=CategoriesResponse)
async def categories(
    engine: EngineDep,
    level: Annotated[int | None, Query(ge=1, le=50, description="Taxonomy level; omit for full paths.")] = 1,
) -> CategoriesResponse:
    stats = await run_in_threadpool(engine.stats, level)
    return CategoriesResponse(
        level=level,
        categories=[CategoryCount(category=c, count=n) for c, n in stats.categories.items()],
        products=stats.products,
        labeled=stats.labeled,
    )

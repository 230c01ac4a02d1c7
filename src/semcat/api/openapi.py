"""The OpenAPI schema's examples and statuses, in one place.

Every request body and answer gets an example: the JSON ones are real calls recorded by
``scripts/openapi_examples.py`` into ``openapi_examples.json`` (regenerate it when a schema
changes; a test checks each one against its schema's fields); the error answers share one
example per status. Statuses a route can answer beyond FastAPI's defaults (a stale
version's 409, a busy server's 503) are listed here too.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from semcat.catalog.product import VISIBLE_CHAR, category_schema
from semcat.limits import id_schema
from semcat.search.base import CURSOR_PATTERN

EXAMPLES = Path(__file__).with_name("openapi_examples.json")
ERROR = {"$ref": "#/components/schemas/ErrorBody"}
ERRORS = {
    "400": ("Malformed request (headers, encoding).", {"error": "bad_request", "detail": "invalid Content-Length"}),
    "401": (
        "Missing or wrong X-API-Key (when keys are set).",
        {"error": "unauthorized", "detail": "missing or wrong X-API-Key"},
    ),
    "404": ("Unknown id, session or category.", {"error": "not_found", "detail": "no product with id 'SKU-9'"}),
    "409": (
        "The state does not allow it now.",
        {"error": "conflict", "detail": "item 3 changed since version 2 (another tab acted first)"},
    ),
    "413": (
        "Over a size or work limit.",
        {
            "error": "payload_too_large",
            "detail": "this call asks for 256,000 neighbors (256 items x k 1000); the limit is 25,600 per call "
            "(SEMCAT_MAX_REQUEST_NEIGHBORS): send fewer items per call or a smaller value",
        },
    ),
    "422": (
        "A field is invalid (named in the detail).",
        {"error": "validation_error", "detail": "items.1: give a non-empty title or description"},
    ),
    "503": (
        "Not ready, or busy for callers without a key (Retry-After).",
        {
            "error": "busy",
            "detail": "the server is categorizing 512 products for callers without a key; "
            "retry shortly or send the API key",
        },
    ),
}
# statuses beyond the app's defaults, per operation
EXTRA = {
    "POST /categorize": ("409", "503"),
    "POST /categorize/image": ("409", "503"),
    "POST /reviews/{sid}/items/{position}": ("409",),
    "POST /reviews/{sid}/undo": ("409",),
    "POST /audit": ("409",),
}
# the multipart forms' examples (a file field shows as its name)
FORMS = {
    "POST /categorize/image": {"image": "(a JPEG, PNG or WebP photo)", "title": "Ceramic coffee mug", "k": 10},
    "POST /similar/image": {"image": "(a JPEG, PNG or WebP photo)", "k": 5},
    "POST /reviews": {"file": "(new_products.csv: CSV, TSV, JSONL or Parquet)", "name": "week 49 arrivals"},
}
PHOTO_ROUTES = ("GET /images/{product_id}",)
# routes whose answers have another's shape (an upload answers as its JSON twin)
SAME_ANSWERS = {"POST /categorize/image": "POST /categorize", "POST /similar/image": "POST /similar"}


# what a property means where its model does not say it itself: "<Schema>.<property>"
# first, then the property's name alone (the API uses each name in one sense throughout)
VOCABULARY = {
    "ActionIn.action": "accept the prediction, correct it (give category), or skip the item",
    "BatchUpsertResult.received": "Products in the call.",
    "BatchUpsertResult.indexed": "Products embedded (new or changed text).",
    "BatchUpsertResult.new": "Products the store did not hold.",
    "BatchUpsertResult.changed": "Stored products whose text changed (embedded again).",
    "BatchUpsertResult.relabeled": "Stored products whose label alone changed (not embedded again).",
    "BatchUpsertResult.unchanged": "Stored products sent again as they were.",
    "Body_create_review_reviews_post.name": "The session's name (default: the file's).",
    "BulkOut.accepted": "Items accepted by this call.",
    "BulkOut.items": "The accepted items as they are now.",
    "CategoriesResponse.level": "The taxonomy level counted (1: main categories).",
    "CategoriesResponse.categories": "Each category at that level and its product count, the largest first.",
    "CategoriesResponse.products": "Products in the store.",
    "CategoriesResponse.labeled": "Products with a category.",
    "CategorizeResponse.predictions": "One prediction per product, in the order sent.",
    "CategorizeResponse.model": "The embedding model that read the products.",
    "CategoryCount.count": "Products under it.",
    "CategoryScoreOut.score": "Its mixed score (vote and head), not a probability.",
    "ConflictsOut.groups": "Groups of near-duplicate products filed under different labels.",
    "ErrorBody.error": "A short code: validation_error, not_found, unauthorized, payload_too_large, conflict, busy...",
    "ErrorBody.detail": "What is wrong, naming the field or the limit.",
    "Health.status": "'ok' while the process answers.",
    "HistoryOut.changes": "Every change of the product's label, oldest first.",
    "ItemOut.id": "The product's id (the file's id column, or its row number).",
    "ItemOut.product": "The product as read from the file.",
    "ItemOut.state": "to review, accepted, corrected or skipped.",
    "LevelOut.level": "The taxonomy level (1: the main category).",
    "LevelOut.category": "The path down to this level, ' > '-joined.",
    "LevelOut.top": "The best categories at this level under the chosen parent, with their scores.",
    "MethodOut.name": "The method's name, as a request's 'method'.",
    "MethodOut.description": "What it does.",
    "OptionsOut.methods": "The categorization methods a request may name.",
    "OptionsOut.modalities": "What a request may have vote: text, image or both.",
    "PredictionOut.main_category": "The path's first level.",
    "PredictionOut.levels": "Each level predicted, with its score, confidence and alternatives.",
    "PredictionOut.top": "The best whole paths, with their scores.",
    "PredictionOut.neighbors": "The closest stored products (as many as 'neighbors' asked), the closest first.",
    "PredictionOut.method": "The method that decided.",
    "ProductPage.products": "This page's products.",
    "ProductWithId.id": "Your id for the product (stored as sent, in Unicode NFC).",
    "ProductsRequest.items": "The products to store, each with its id.",
    "Ready.status": "'ready' once the model is loaded and the store answers.",
    "Ready.model": "The embedding model.",
    "Ready.store": "The store backend (and where it lives, with the key).",
    "Ready.products": "Products in the store.",
    "RejectedOut.row": "The file's line (1: the header).",
    "RejectedOut.reason": "Why the row was left out.",
    "SessionOut.id": "The session's id (in the page's address: /#review=<id>).",
    "SessionOut.name": "The session's name.",
    "SessionOut.status": "categorizing, ready or failed.",
    "SessionOut.categorized": "Items categorized so far.",
    "SessionOut.options": "The categorization options the session was started with.",
    "SimilarHit.score": "Cosine similarity to the query.",
    "SimilarHit.product": "The stored product.",
    "SimilarResponse.results": "The nearest stored products, the closest first.",
    "SuspectOut.neighbors": "The neighbors that made it suspect, with their labels.",
    "SuspectsOut.audit": "The latest audit's state.",
    "UpsertResult.status": "created, updated (text changed), relabeled (label alone) or unchanged.",
    "EvidenceOut.category": "Its stored label.",
    "id": "The product's id.",
    "title": "Product title.",
    "description": "Product description.",
    "brand": "Brand.",
    "attributes": "Attributes (specifications) as one text.",
    "image": "The stored photo's reference (served by GET /images/{id}).",
    "category": "Taxonomy path, ' > '-joined.",
    "category_levels": "The path's levels, top first.",
    "offset": "Items skipped before this page.",
    "total": "Items in all.",
    "items": "This page's items.",
    "method": "How to categorize: a name from GET /options (default: the setting).",
    "modality": "What votes: text, image or both.",
    "k": "Neighbors that vote.",
    "depth": "Deepest taxonomy level to predict (default: detected).",
    "auto_precision": "Precision the 'auto' decisions must reach.",
}


@cache
def recorded() -> dict[str, Any]:
    return json.loads(EXAMPLES.read_text(encoding="utf-8"))


def install_openapi(app: FastAPI, images: bool, keyed: bool) -> None:
    """Wrap ``app.openapi`` so its schema carries the examples, statuses and constraints
    above, as this server applies them: ``images``, whether its model reads photos (else
    only the text modality is offered); ``keyed``, whether writes need a key (else no route
    asks for one, and none answers 401)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for name, component in schema.get("components", {}).get("schemas", {}).items():
            for prop, node in component.get("properties", {}).items():
                if not node.get("description"):
                    node["description"] = VOCABULARY.get(f"{name}.{prop}") or VOCABULARY.get(prop, "")
        for path, methods in schema["paths"].items():
            for method, operation in methods.items():
                _complete(f"{method.upper()} {path}", operation)
        _constrain(schema, images)
        if not keyed:
            _keyless(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(key: str, operation: dict[str, Any]) -> None:
    examples = recorded().get(key) or recorded().get(SAME_ANSWERS.get(key, ""), {})
    responses = operation.setdefault("responses", {})
    for status in EXTRA.get(key, ()):
        responses.setdefault(status, {"content": {"application/json": {"schema": ERROR}}})
    for status, answer in responses.items():
        if status in ERRORS:
            answer["description"] = ERRORS[status][0]
            answer.setdefault("content", {}).setdefault("application/json", {"schema": ERROR})
            answer["content"]["application/json"]["example"] = ERRORS[status][1]
            continue
        for kind, content in answer.get("content", {}).items():
            if status in examples.get("responses", {}):
                content["example"] = examples["responses"][status]
            elif kind.startswith("image/") and key in PHOTO_ROUTES:
                content["example"] = "(the stored photo's bytes)"
    body = operation.get("requestBody", {}).get("content", {})
    for content in body.values():
        if key in FORMS:
            content["example"] = FORMS[key]
        elif "request" in examples:
            content["example"] = examples["request"]


# --------------------------------------------------------------------------- constraints
# What the bodies' validators enforce beyond types and lengths, written into the schema, so a
# request the schema allows is one the API accepts (schemathesis checks it: tests/unit/
# test_api_schemathesis.py). Photos are the exception: that bytes decode to an image (and
# that the model reads images) cannot be said in a schema; the descriptions say it.
SINGLE_FIELDS = ("title", "description", "brand", "attributes", "image_base64")  # CategorizeRequest's one product
PRODUCT_ID_MODELS = ("ItemIn", "ProductWithId", "SimilarRequest")
CATEGORY_MODELS = ("ProductIn", "ProductWithId", "RelabelIn")
TEXT_MODELS = ("ItemIn", "ProductIn", "ProductWithId")


def _visible(*fields: str) -> list[dict[str, Any]]:
    """One alternative per field: it is given and has a character that shows."""
    return [{"required": [f], "properties": {f: {"type": "string", "pattern": VISIBLE_CHAR}}} for f in fields]


PHOTO = {"required": ["image_base64"], "properties": {"image_base64": {"type": "string", "minLength": 1}}}


def _described(node: dict[str, Any]) -> dict[str, Any]:
    """What a property node says of itself (kept when its type is replaced)."""
    return {k: node[k] for k in ("description", "title", "default") if k in node}


def _nullable(node: dict[str, Any], rule: dict[str, Any]) -> None:
    """Put ``rule`` in place of a property's string type, keeping its null alternative."""
    keep = _described(node)
    nullable = any(alt.get("type") == "null" for alt in node.get("anyOf", ()))
    node.clear()
    node.update({"anyOf": [rule, {"type": "null"}]} if nullable else rule)
    node.update(keep)
    if "description" in keep and rule.get("description"):  # the property's words, then the rule's
        node["description"] = f"{keep['description'].rstrip('.')}. {rule['description']}"


def _constrain(schema: dict[str, Any], images: bool) -> None:
    models = schema.get("components", {}).get("schemas", {})
    if not images:  # a text model answers a photo modality with 422: the schema offers text only
        for model in models.values():
            node = model.get("properties", {}).get("modality", {})
            for alternative in node.get("anyOf", ()):
                if "enum" in alternative:
                    alternative["enum"] = ["text"]
    for name in PRODUCT_ID_MODELS:
        _nullable(models[name]["properties"]["id"], id_schema())
    for name in CATEGORY_MODELS:
        node = models[name]["properties"]["category"]
        keep = _described(node)
        node.clear()
        node.update(keep | category_schema())
    photo = [PHOTO] if images else []  # on a CLIP model a photo alone is a product
    for name in TEXT_MODELS:
        models[name]["anyOf"] = _visible("title", "description") + (photo if name == "ItemIn" else [])
    models["CategorizeRequest"]["anyOf"] = [
        {
            "required": ["items"],
            "properties": {"items": {"type": "array"}} | {f: {"type": "null"} for f in SINGLE_FIELDS},
        },
        {"properties": {"items": {"type": "null"}}, "anyOf": _visible("title", "description") + photo},
    ]
    others = {"text": {"type": "null"}, "id": {"type": "null"}, "image_base64": {"type": "null"}}
    models["SimilarRequest"]["anyOf"] = [
        {"required": ["text"], "properties": others | {"text": {"type": "string", "pattern": VISIBLE_CHAR}}},
        {"required": ["id"], "properties": others | {"id": id_schema()}},
    ] + [{"required": ["image_base64"], "properties": others | PHOTO["properties"]} for _ in photo]
    models["BulkIn"]["anyOf"] = [
        {"required": ["auto"], "properties": {"auto": {"const": True}}},
        {"required": ["min_confidence"], "properties": {"min_confidence": {"type": "number"}}},
        {"required": ["positions"], "properties": {"positions": {"type": "array"}}},
    ]
    for methods in schema["paths"].values():
        for operation in methods.values():
            for parameter in operation.get("parameters", ()):
                if parameter["name"] == "product_id":
                    parameter["schema"] = {"title": "Product Id"} | id_schema()
                elif parameter["name"] == "cursor":
                    _nullable(parameter["schema"], {"type": "string", "pattern": CURSOR_PATTERN})


def _keyless(schema: dict[str, Any]) -> None:
    """A server without keys (a local service) takes every call without one: its schema
    names no key and no 401."""
    schema.get("components", {}).pop("securitySchemes", None)
    for methods in schema["paths"].values():
        for operation in methods.values():
            operation.pop("security", None)
            operation.get("responses", {}).pop("401", None)

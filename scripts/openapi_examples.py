"""Regenerate the OpenAPI examples (src/semcat/api/openapi_examples.json) from real calls.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/openapi_examples.py

Indexes a slice of the bundled sample with the default model, calls every route once
through the app, and keeps each request body and answer (lists cut to three entries, long
texts shortened), so the examples /docs shows are what the service answers.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from semcat.api import create_app
from semcat.catalog import read_catalog
from semcat.config import Settings
from semcat.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "semcat" / "api" / "openapi_examples.json"
SAMPLE = ROOT / "examples" / "flipkart-1050" / "flipkart_com-ecommerce_sample_1050.csv"
KEY = {"X-API-Key": "change-me"}


def trim(value: Any) -> Any:
    """Lists cut to three entries, texts to 160 characters: an example, not a dump."""
    if isinstance(value, dict):
        return {k: trim(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trim(v) for v in value[:3]]
    if isinstance(value, str) and len(value) > 160:
        return value[:157] + "..."
    if isinstance(value, float):
        return round(value, 4)
    return value


def main() -> None:
    examples: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=tmp, api_key="change-me", retrain={"child_process": False})
        engine = Engine(settings)
        engine.index(read_catalog(SAMPLE).products[:400], progress=False)
        engine.head(wait=True)
        client = TestClient(create_app(settings, engine=engine))

        def call(operation: str, method: str, url: str, status: int, body: Any = None, **kwargs: Any) -> Any:
            answer = client.request(method, url, json=body, **kwargs)
            assert answer.status_code == status, (operation, answer.status_code, answer.text)
            entry = examples.setdefault(operation, {})
            if body is not None:
                entry["request"] = trim(body)
            if answer.headers.get("content-type", "").startswith("application/json"):
                entry.setdefault("responses", {})[str(status)] = trim(answer.json())
            elif answer.headers.get("content-type", "").startswith("text/csv"):
                entry.setdefault("responses", {})[str(status)] = "\n".join(answer.text.splitlines()[:3]) + "\n"
            return answer.json() if "json" in answer.headers.get("content-type", "") else answer.text

        with client:
            call(
                "POST /categorize",
                "POST",
                "/categorize",
                200,
                {"title": "Prestige stainless steel pressure cooker 5 litre", "top_n": 2, "neighbors": 2},
            )
            call("POST /similar", "POST", "/similar", 200, {"text": "soft cotton bath towel", "k": 2})
            call(
                "PUT /products/{product_id}",
                "PUT",
                "/products/SKU-1001",
                200,
                {"title": "Borosil glass coffee mug 300 ml", "category": "Kitchen & Dining > Coffee Mugs"},
                headers=KEY,
            )
            call(
                "POST /products",
                "POST",
                "/products",
                200,
                {
                    "items": [
                        {
                            "id": "SKU-1002",
                            "title": "Milton steel water bottle 1 L",
                            "category": "Kitchen & Dining > Bottles",
                        },
                        {"id": "SKU-1003", "title": "Unlabeled cotton napkin set"},
                    ]
                },
                headers=KEY,
            )
            call("GET /products/{product_id}", "GET", "/products/SKU-1001", 200)
            call(
                "PATCH /products/{product_id}",
                "PATCH",
                "/products/SKU-1001",
                200,
                {"category": "Kitchen & Dining > Mugs"},
                headers=KEY,
            )
            call("GET /products/{product_id}/history", "GET", "/products/SKU-1001/history", 200)
            call("GET /products", "GET", "/products?category=Kitchen%20%26%20Dining&limit=2", 200)
            call("GET /categories", "GET", "/categories?level=1", 200)
            upload = "sku,title\nnew-1,Steel chef knife 8 inch\nnew-2,Cotton baby romper 6-12 months\n"
            answer = client.post(
                "/reviews", files={"file": ("new.csv", io.BytesIO(upload.encode()), "text/csv")}, headers=KEY
            )
            assert answer.status_code == 201, answer.text
            sid = answer.json()["id"]
            for _ in range(200):
                if client.get(f"/reviews/{sid}").json()["status"] != "categorizing":
                    break
                time.sleep(0.05)
            examples["POST /reviews"] = {"responses": {"201": trim(client.get(f"/reviews/{sid}").json())}}
            call("GET /reviews", "GET", "/reviews", 200)
            call("GET /reviews/{sid}", "GET", f"/reviews/{sid}", 200)
            call("GET /reviews/{sid}/items", "GET", f"/reviews/{sid}/items?limit=1", 200)
            call(
                "POST /reviews/{sid}/items/{position}",
                "POST",
                f"/reviews/{sid}/items/0",
                200,
                {"action": "correct", "category": "Kitchen & Dining > Kitchen Tools"},
                headers=KEY,
            )
            call("POST /reviews/{sid}/accept", "POST", f"/reviews/{sid}/accept", 200, {"positions": [1]}, headers=KEY)
            call("POST /reviews/{sid}/undo", "POST", f"/reviews/{sid}/undo", 200, headers=KEY)
            call("GET /reviews/{sid}/export", "GET", f"/reviews/{sid}/export", 200)
            call("POST /audit", "POST", "/audit", 202, headers=KEY)
            for _ in range(6000):  # a background audit runs at a low priority: a busy machine slows it
                state = client.get("/audit").json()["audit"]
                if state and state["state"] != "running":
                    break
                time.sleep(0.1)
            suspects = call("GET /audit", "GET", "/audit?limit=2", 200)
            call("GET /audit/conflicts", "GET", "/audit/conflicts?limit=2", 200)
            if suspects["items"]:
                call(
                    "POST /audit/{product_id}/keep",
                    "POST",
                    f"/audit/{suspects['items'][0]['id']}/keep",
                    200,
                    headers=KEY,
                )
            call("GET /health", "GET", "/health", 200)
            call("GET /ready", "GET", "/ready", 200)
            call("GET /options", "GET", "/options", 200)
            call("DELETE /products/{product_id}", "DELETE", "/products/SKU-1002", 204, headers=KEY)
        engine.close()
    OUT.write_text(json.dumps(examples, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(examples)} operations' examples to {OUT}")


if __name__ == "__main__":
    main()

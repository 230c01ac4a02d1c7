"""Qdrant cluster settings reach the server: a stand-in Qdrant REST server records what
semcat sends when it creates a collection (no Qdrant server can run where semcat is
built; the request bodies are what a real cluster would receive)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from semcat.config import Settings
from semcat.search import StoreMeta
from semcat.search.factory import open_store
from semcat.search.qdrant_store import PAYLOAD_INDEXES


class _Qdrant(BaseHTTPRequestHandler):
    """Just enough of Qdrant's REST API for collection creation; records each request."""

    seen: ClassVar[list[tuple[str, str, Any]]] = []

    def _send(self, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, result: Any) -> None:
        self._send({"result": result, "status": "ok", "time": 0.0})

    def _record(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        path = self.path.split("?")[0]
        self.seen.append((self.command, path, json.loads(self.rfile.read(length)) if length else None))
        return path

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("", "/"):  # the client's version check: answered, then recorded
            self._send({"title": "qdrant", "version": version("qdrant-client")})
            self._record()
            return
        path = self._record()
        if path.endswith("/exists"):
            self._answer({"exists": False})
        else:
            self._answer({})

    def do_PUT(self) -> None:
        if self._record().endswith("/index"):
            self._answer({"operation_id": 1, "status": "completed"})
        else:
            self._answer(True)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _stand_in() -> Iterator[str]:
    """A stand-in Qdrant on a free port, for the block's duration; yields its URL."""
    _Qdrant.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Qdrant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _version_checked() -> None:
    """Wait until the client's version check (on a thread of its own) was answered."""
    deadline = time.monotonic() + 10
    while not any(path == "/" for _, path, _ in _Qdrant.seen) and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture
def qdrant_url() -> Iterator[str]:
    with _stand_in() as url:
        yield url


def _created(url: str, **cluster: int) -> tuple[dict, list[str]]:
    settings = Settings(store="qdrant", qdrant_url=url, collection="products", **cluster)
    open_store(settings, StoreMeta(model="m", spaces={"text": 4}, sparse=("lexical",)))
    _version_checked()
    (create,) = [body for verb, path, body in _Qdrant.seen if verb == "PUT" and path == "/collections/products"]
    indexed = [body["field_name"] for verb, path, body in _Qdrant.seen if path.endswith("/index")]
    return create, indexed


def test_cluster_settings_reach_collection_creation(qdrant_url: str) -> None:
    create, indexed = _created(
        qdrant_url, qdrant_shard_number=6, qdrant_replication_factor=2, qdrant_write_consistency_factor=2
    )
    assert (create["shard_number"], create["replication_factor"], create["write_consistency_factor"]) == (6, 2, 2)
    assert create["vectors"]["text"]["size"] == 4 and create["sparse_vectors"]["lexical"]["modifier"] == "idf"
    # the fields the categorizer filters on are indexed on the server
    assert set(indexed) == set(PAYLOAD_INDEXES) >= {"category_prefixes", "category_levels"}
    # int8 copies by default, in RAM (SEMCAT_QDRANT__QUANTIZATION)
    assert create["quantization_config"]["scalar"] == {"type": "int8", "quantile": 0.99, "always_ram": True}


def test_a_float_only_collection_asks_for_no_quantization(qdrant_url: str) -> None:
    create, _ = _created(qdrant_url, qdrant={"quantization": "none"})
    assert create.get("quantization_config") is None


def test_unset_cluster_settings_leave_qdrants_defaults(qdrant_url: str) -> None:
    create, _ = _created(qdrant_url)
    assert not {"shard_number", "replication_factor", "write_consistency_factor"} & {
        k for k, v in create.items() if v is not None
    }


def test_cluster_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="apply to a Qdrant server"):
        Settings(qdrant_shard_number=3)  # the embedded FAISS store has no shards
    with pytest.raises(ValidationError, match="apply to a Qdrant server"):
        Settings(store="qdrant", qdrant_replication_factor=2)  # nor the embedded Qdrant
    with pytest.raises(ValidationError, match="cannot exceed qdrant_replication_factor"):
        Settings(store="qdrant", qdrant_url="http://q:6333", qdrant_write_consistency_factor=2)
    env = Settings(store="qdrant", qdrant_url="http://q:6333", qdrant_shard_number="")  # compose's ${VAR:-}
    assert env.qdrant.shard_number is None


def test_a_server_that_stops_answering_is_a_store_error() -> None:
    """A lost Qdrant (a cluster's entry peer down) is a StoreError, which the API answers
    as 503, not an unhandled exception (500)."""
    from semcat.errors import StoreError

    with _stand_in() as url:
        store = open_store(Settings(store="qdrant", qdrant_url=url), StoreMeta(model="m", spaces={"text": 4}))
        _version_checked()
    with pytest.raises(StoreError, match="did not answer") as caught:
        store.count()
    assert caught.value.http_status == 503


def test_a_server_collection_tells_another_process_how_to_read_it(qdrant_url: str) -> None:
    """The head's retrain child opens the same collection with what ``reader_spec`` gives
    (the server, the collection, the key); an in-memory collection belongs to its process."""
    from semcat.search.qdrant_store import QdrantStore

    settings = Settings(store="qdrant", qdrant_url=qdrant_url, qdrant_api_key="k3y", collection="products")
    store = open_store(settings, StoreMeta(model="m", spaces={"text": 4}, sparse=("lexical",)))
    _version_checked()
    assert store.reader_spec() == {"backend": "qdrant", "url": qdrant_url, "collection": "products", "api_key": "k3y"}
    memory = QdrantStore("products", StoreMeta(model="m", spaces={"text": 4}), location=":memory:")
    assert memory.reader_spec() is None
    memory.close()

"""Bulk indexing: hashes, unchanged/changed/relabeled products, interruption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semcat.catalog import Product
from semcat.indexer import index_products
from semcat.search import StoreMeta
from semcat.search.faiss import FaissStore


def catalog(n: int = 50) -> list[Product]:
    return [
        Product(
            id=f"p{i}", title=f"product number {i} {'shirt' if i % 2 else 'lamp'}", category=("A" if i % 2 else "B",)
        )
        for i in range(n)
    ]


def open_store(path: Path, embedder: Any) -> FaissStore:
    return FaissStore(path, StoreMeta(model=embedder.name, spaces={"text": embedder.dim}))


def test_second_run_embeds_nothing(tmp_path: Path, hash_embedder: Any) -> None:
    store = open_store(tmp_path, hash_embedder)
    first = index_products(catalog(), hash_embedder, store, batch_size=8, progress=False)
    assert (first.new, first.embedded, first.unchanged) == (50, 50, 0)
    calls = hash_embedder.calls
    second = index_products(catalog(), hash_embedder, store, batch_size=8, progress=False)
    assert (second.embedded, second.unchanged) == (0, 50)
    assert hash_embedder.calls == calls
    assert store.count() == 50


def test_changed_text_is_reembedded_and_relabel_is_not(tmp_path: Path, hash_embedder: Any) -> None:
    store = open_store(tmp_path, hash_embedder)
    index_products(catalog(), hash_embedder, store, progress=False)
    products = catalog()
    products[3] = Product(id="p3", title="a completely new title", category=("A",))
    products[4] = Product(id="p4", title=products[4].title, category=("Z", "Z1"))
    seen = hash_embedder.texts_seen
    summary = index_products(products, hash_embedder, store, progress=False)
    assert (summary.changed, summary.relabeled, summary.unchanged, summary.embedded) == (1, 1, 48, 1)
    assert hash_embedder.texts_seen == seen + 1
    assert store.get(["p4"])[0].payload["category"] == "Z > Z1"
    assert store.get(["p3"])[0].payload["title"] == "a completely new title"
    assert store.count() == 50


def test_text_fields_and_model_are_part_of_the_hash(tmp_path: Path, hash_embedder: Any) -> None:
    store = open_store(tmp_path, hash_embedder)
    index_products(catalog(), hash_embedder, store, fields=("title",), progress=False)
    again = index_products(catalog(), hash_embedder, store, fields=("title", "brand"), progress=False)
    assert again.unchanged == 50  # no brand: same text
    with_desc = [Product(id=p.id, title=p.title, description="desc", category=p.category) for p in catalog()]
    changed = index_products(with_desc, hash_embedder, store, fields=("title", "description"), progress=False)
    assert changed.changed == 50


def test_interrupted_run_resumes_without_loss_or_duplicates(tmp_path: Path, hash_embedder: Any) -> None:
    store = open_store(tmp_path, hash_embedder)
    from semcat.indexer.bulk import CHUNK_BATCHES

    hash_embedder.fail_after = 1  # Ctrl-C while embedding the second chunk (CHUNK_BATCHES batches each)
    first = index_products(catalog(), hash_embedder, store, batch_size=1, progress=False)
    done = CHUNK_BATCHES
    assert done < 50 and first.interrupted and first.embedded == done
    assert store.count() == done
    store.close()
    hash_embedder.fail_after = None
    store = FaissStore(tmp_path, None)
    second = index_products(catalog(), hash_embedder, store, batch_size=8, progress=False)
    assert (second.new, second.unchanged, second.interrupted) == (50 - done, done, False)
    assert store.count() == 50
    assert store.describe()["spaces"]["text"]["vectors"] == 50

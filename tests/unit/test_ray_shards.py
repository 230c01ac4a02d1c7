"""What the Ray path reads, without a cluster: which files a source names, and what one
shard gives the stream (products with their hashes, rejected rows naming file and row, a
shard that cannot be read as one failure, not a crash)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semcat.catalog import TEXT_FIELDS, read_catalog, stored_payload, text_hash
from semcat.errors import CatalogError
from semcat.indexer import index_products
from semcat.indexer.distributed import (
    EMBED,
    FAILED,
    PRODUCT,
    REJECTED,
    RELABEL,
    UNCHANGED,
    Join,
    ReadSpec,
    all_hashes,
    read_shard,
    shards,
    write_batch,
)
from semcat.search import StoreMeta
from semcat.search.faiss import FaissStore
from semcat.spaces import LEXICAL_SPACE

SPEC = ReadSpec(columns=None, fmt=None, encoding="utf-8", model="test-model", fields=("title", "description"))


def test_a_folder_of_shards_is_its_catalog_files_in_order(tmp_path: Path) -> None:
    for name in ("part-1.csv", "part-0.jsonl", "notes.txt", ".hidden.csv", "sub/part-2.parquet"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert [Path(s).name for s in shards(tmp_path)] == ["part-0.jsonl", "part-1.csv", "part-2.parquet"]
    assert shards(tmp_path / "part-1.csv") == [str(tmp_path / "part-1.csv")]
    # the same through a pyarrow filesystem URI
    uris = shards(f"file://{tmp_path}")
    assert [u.rsplit("/", 1)[-1] for u in uris] == ["part-0.jsonl", "part-1.csv", "part-2.parquet"]
    assert all(u.startswith("file:///") for u in uris)


def test_a_source_with_no_catalog_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(CatalogError, match="no catalog file"):
        shards(tmp_path)
    with pytest.raises(CatalogError, match="not found"):
        shards(tmp_path / "missing")


def test_a_shard_gives_products_hashed_as_semcat_index_hashes_them(tmp_path: Path) -> None:
    shard = tmp_path / "part-0.csv"
    shard.write_text(
        "id,title,description,category\n"
        "a,Casio watch,analog,Watches > Wrist Watches\n"
        ",No id here,,Watches\n"
        "b,,,Watches\n"
        "c,Steel pan,24 cm,Kitchen > Pans\n",
        encoding="utf-8",
    )
    rows = read_shard({"shard": str(shard)}, SPEC)
    products = {r["id"]: r for r in rows if r["kind"] == PRODUCT}
    assert set(products) == {"a", "c"}
    for product in read_catalog(shard).products:  # the single-machine reader's own payloads
        text = product.text(SPEC.fields)
        assert products[product.id]["text"] == text
        assert json.loads(products[product.id]["payload"]) == stored_payload(product, text_hash("test-model", text))
    rejected = sorted((r["row"], r["reason"], r["shard"]) for r in rows if r["kind"] == REJECTED)
    assert rejected == [(r.row, r.reason, "part-0.csv") for r in read_catalog(shard).rejected]
    assert [row for row, _, _ in rejected] == [3, 4]  # lines of the file, as semcat index numbers them


def test_an_unreadable_shard_is_one_failed_row_naming_it(tmp_path: Path) -> None:
    shard = tmp_path / "part-9.csv"
    shard.write_bytes(b"")
    (row,) = read_shard({"shard": str(shard)}, SPEC)
    assert row["kind"] == FAILED and row["shard"] == "part-9.csv" and "empty" in row["reason"]


def as_batch(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {key: np.array([r[key] for r in rows]) for key in rows[0]}


def test_the_join_and_the_writes_store_what_semcat_index_stores(
    tmp_path: Path, hash_embedder: Any, store_factory: Any
) -> None:
    """On every store backend: the Ray path's stages, run in process, leave the store with the
    records the single-machine indexer writes, and a second pass sorts products into
    embed / relabel / unchanged as a re-run of `semcat index` does."""
    shard = tmp_path / "part-0.csv"
    lines = ["id,title,description,category"] + [
        f"p{i},product {i} {'shirt' if i % 2 else 'lamp'},text {i},{'A > B' if i % 2 else 'C'}" for i in range(20)
    ]
    shard.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = ReadSpec(columns=None, fmt=None, encoding="utf-8", model=hash_embedder.name, fields=TEXT_FIELDS)
    meta = StoreMeta(model=hash_embedder.name, spaces={"text": hash_embedder.dim}, sparse=(LEXICAL_SPACE,))
    store = store_factory(meta)

    def one_pass(source: Path) -> dict[str, np.ndarray]:
        batch = Join(settings=None, stored=all_hashes(store))(as_batch(read_shard({"shard": str(source)}, spec)))
        embed = batch["decision"] == EMBED
        vectors = np.zeros((len(embed), hash_embedder.dim), dtype=np.float32)
        if embed.any():
            vectors[embed] = hash_embedder.encode_texts([str(t) for t in batch["text"][embed]], role="passage")
        write_batch(store, batch | {"vector": vectors})
        return batch

    first = one_pass(shard)
    assert sorted(first["decision"][first["kind"] == PRODUCT]) == [EMBED] * 20

    reference = FaissStore(tmp_path / "reference", meta)
    index_products(read_catalog(shard).products, hash_embedder, reference, progress=False)
    ids = [f"p{i}" for i in range(20)]
    ours, theirs = store.get(ids, with_vectors=True), reference.get(ids, with_vectors=True)
    for a, b in zip(ours, theirs, strict=True):
        assert a.id == b.id and a.payload == b.payload
        assert np.abs(a.vectors["text"] - b.vectors["text"]).max() <= 1e-6

    lines[1] = "p0,product 0 lamp,text 0,D"  # relabeled: same text
    lines[2] = "p1,a new title,text 1,A > B"  # changed text
    shard.write_text("\n".join(lines) + "\n", encoding="utf-8")
    second = one_pass(shard)
    decided = dict(zip(second["id"], second["decision"], strict=True))
    assert (decided["p0"], decided["p1"], decided["p2"]) == (RELABEL, EMBED, UNCHANGED)
    assert sum(d == UNCHANGED for d in decided.values() if d) == 18
    (p0,) = store.get(["p0"])
    assert p0.payload["category"] == "D"


def test_gpu_actors_on_an_int8_store_are_refused_before_anything_runs(tmp_path: Path) -> None:
    from semcat.config import Settings
    from semcat.errors import ConfigError
    from semcat.indexer.distributed import index_on_ray

    settings = Settings(data_dir=tmp_path, ray={"gpus_per_actor": 1})
    with pytest.raises(ConfigError, match="SEMCAT_BACKEND=torch"):
        index_on_ray(tmp_path / "missing.csv", settings, store=None, model="m")  # type: ignore[arg-type]


def test_shards_without_an_id_column_do_not_share_ids(tmp_path: Path) -> None:
    """Without an id column a product is its row number, per file: two shards would give two
    products the id "2" and the second would silently replace the first."""
    for part in ("part-0.csv", "part-1.csv"):
        (tmp_path / part).write_text("title,category\nCasio watch,Watches\nSteel pan,Kitchen\n", encoding="utf-8")
    many = ReadSpec(columns=None, fmt=None, encoding="utf-8", model="m", fields=("title",), many=True)
    ids = [r["id"] for part in ("part-0.csv", "part-1.csv") for r in read_shard({"shard": str(tmp_path / part)}, many)]
    ids = [i for i in ids if i]
    assert ids == ["part-0.csv:2", "part-0.csv:3", "part-1.csv:2", "part-1.csv:3"]
    # one file: the row numbers semcat index gives
    alone = [r["id"] for r in read_shard({"shard": str(tmp_path / "part-0.csv")}, SPEC) if r["id"]]
    assert alone == [p.id for p in read_catalog(tmp_path / "part-0.csv").products] == ["2", "3"]


def test_an_id_twice_in_one_write_is_written_once_the_later_row(tmp_path: Path, hash_embedder: Any) -> None:
    meta = StoreMeta(model=hash_embedder.name, spaces={"text": hash_embedder.dim})
    store = FaissStore(tmp_path / "store", meta)
    rows = [
        {"kind": PRODUCT, "id": "x", "text": "first", "payload": json.dumps({"title": "first"}), "decision": EMBED},
        {"kind": PRODUCT, "id": "x", "text": "second", "payload": json.dumps({"title": "second"}), "decision": EMBED},
    ]
    batch = as_batch(rows)
    write_batch(store, batch | {"vector": hash_embedder.encode_texts(["first", "second"], role="passage")})
    (record,) = store.get(["x"])
    assert record.payload["title"] == "second" and store.count() == 1

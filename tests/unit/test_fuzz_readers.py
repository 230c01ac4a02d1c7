"""Fuzzing the catalog readers: random bytes, truncated and corrupted exports, deep JSON,
huge fields. Whatever the file, reading it gives products plus row reports, or one
CatalogError naming the problem; never another exception (a CLI traceback)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st
from tests.conftest import HashEmbedder
from typer.testing import CliRunner

from semcat.catalog import read_catalog
from semcat.cli import app as cli
from semcat.errors import CatalogError
from semcat.limits import MAX_CATEGORY_DEPTH, MAX_ID_CHARS

FORMATS = [".csv", ".tsv", ".jsonl", ".json", ".parquet"]
VALID = {
    ".csv": b'id,title,description,category,attributes\n1,red mug,ceramic,Kitchen > Mugs,"{""Colour"": ""red""}"\n'
    b"2,blue cup,glass,Kitchen > Cups,\n3,steel watch,analog,Watches,\n",
    ".tsv": b"id\ttitle\tcategory\n1\tred mug\tKitchen\n2\tsteel watch\tWatches\n",
    ".jsonl": b'{"id": "1", "title": "red mug", "category": ["Kitchen", "Mugs"], "attributes": {"a": "b"}}\n'
    b'{"id": "2", "title": "steel watch", "category": "Watches"}\n',
    ".json": b'[{"id": "1", "title": "red mug", "category": "Kitchen"}, {"id": "2", "title": "watch"}]',
}
FUZZ_EXAMPLES = 400  # per fuzz test: 1,200 generated files a run (docs/benchmarks.md#hardening)
SETTINGS = hypothesis.settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
    database=None,
)


TRIED: list[str] = []  # what each run read: its count goes to docs/benchmarks.md


def read(data: bytes, suffix: str) -> None:
    TRIED.append(suffix)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"catalog{suffix}"
        path.write_bytes(data)
        try:
            report = read_catalog(path)
        except CatalogError as exc:
            assert str(exc) and "\n" not in str(exc)
            return
        for product in report.products:  # whatever was accepted is within the limits
            assert product.id and len(product.id) <= MAX_ID_CHARS and product.has_text
            assert len(product.category) <= MAX_CATEGORY_DEPTH
        for rejected in report.rejected:
            assert rejected.row >= 0 and rejected.reason


@SETTINGS
@hypothesis.given(data=st.binary(max_size=2_000), suffix=st.sampled_from(FORMATS))
def test_random_bytes(data: bytes, suffix: str) -> None:
    read(data, suffix)


@SETTINGS
@hypothesis.given(
    suffix=st.sampled_from(sorted(VALID)),
    cut=st.integers(min_value=0, max_value=400),
    flips=st.lists(st.tuples(st.integers(min_value=0, max_value=400), st.integers(0, 255)), max_size=6),
    insert=st.sampled_from(
        [
            b"",
            b'{"a":' * 3000 + b"1" + b"}" * 3000,
            b"[" * 5000,
            b'"' * 3,
            b"x" * 200_000,
            b" > ".join([b"x"] * 3000),
            "é\u0000\ufeff".encode(),
            b"\xff\xfe",
        ]
    ),
    where=st.integers(min_value=0, max_value=400),
)
def test_corrupted_exports(suffix: str, cut: int, flips: list[tuple[int, int]], insert: bytes, where: int) -> None:
    data = bytearray(VALID[suffix][: max(cut, 1)] if cut < len(VALID[suffix]) else VALID[suffix])
    for position, value in flips:
        if data:
            data[position % len(data)] = value
    position = where % (len(data) + 1)
    read(bytes(data[:position]) + insert + bytes(data[position:]), suffix)


@SETTINGS
@hypothesis.given(
    rows=st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "id": st.one_of(st.text(max_size=20), st.integers(), st.lists(st.text(max_size=3), max_size=2)),
                "title": st.one_of(
                    st.text(max_size=50), st.none(), st.dictionaries(st.text(max_size=3), st.text(max_size=3))
                ),
                "category": st.one_of(
                    st.text(max_size=50), st.lists(st.text(max_size=10), max_size=30), st.integers(), st.none()
                ),
                "attributes": st.recursive(
                    st.one_of(st.text(max_size=10), st.integers(), st.none()),
                    lambda inner: st.one_of(
                        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
                    ),
                    max_leaves=40,
                ),
            },
        ),
        min_size=1,
        max_size=8,
    )
)
def test_jsonl_rows_of_any_shape(rows: list[dict]) -> None:
    read("\n".join(json.dumps(r) for r in rows).encode(), ".jsonl")


def test_the_cli_reports_rows_or_one_line_for_hostile_files(tmp_path: Path, cli_hash_model: HashEmbedder) -> None:
    runner = CliRunner()
    hostile = {
        "deep.jsonl": b'{"id": "1", "title": "mug", "attributes": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}\n"
        b'{"id": "2", "title": "cup", "category": "Kitchen"}\n',
        "huge.csv": b"id,title,description\n1,mug," + b"d" * 2_000_000 + b"\n2,cup,glass\n",
        "truncated.csv": VALID[".csv"][:57],
        "binary.csv": bytes(range(256)) * 8,
        "utf16.csv": "id,title,category\n1,mug,Kitchen\n".encode("utf-16"),
    }
    for name, data in hostile.items():
        path = tmp_path / name
        path.write_bytes(data)
        for args in (["index", str(path), "-q"], ["categorize", "-f", str(path)]):
            result = runner.invoke(cli, [*args, "--data-dir", str(tmp_path / "store")])
            assert result.exception is None or isinstance(result.exception, SystemExit), (name, args, result.exception)
            assert "Traceback" not in result.output, (name, result.output)
            TRIED.append(f"cli {args[0]}")


def test_fuzz_count() -> None:
    """Runs last in this file: how many inputs the readers were given this run."""
    if not TRIED:
        pytest.skip("run with the fuzz tests above")
    print(f"reader fuzz: {len(TRIED)} inputs, 0 exceptions other than CatalogError, 0 CLI tracebacks")
    assert len(TRIED) >= FUZZ_EXAMPLES

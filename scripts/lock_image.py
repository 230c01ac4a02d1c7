"""Write the Docker image's hashed requirement files from the environment the suite passed in.

    .venv/bin/python scripts/lock_image.py        (needs `uv` on PATH, or UV=/path/to/uv)

The image installs two sets, each with ``pip install --require-hashes --no-deps``:

- ``requirements/api.txt``: what ``semcat serve`` runs on: every dependency of semcat
  except torch and what only torch-based code needs (:data:`TORCH_ONLY`). The server
  embeds with ONNX Runtime and the model's tokenizer; no module it imports loads torch
  (``tests/integration/test_torch_free.py`` serves and categorizes with torch unimportable).
  The MiniLM wheel is listed without its sentence-transformers dependency: the server
  reads its files, not the library.
- ``requirements/export.txt``: what the image's build stage adds to export MiniLM to
  ONNX once (torch, sentence-transformers and their closure, and the build backend that
  builds semcat's wheel). That stage is thrown away: its torch never reaches the image.

Versions are the ones installed here (``constraints.txt`` pins the same); markers are
judged for this interpreter (Linux, CPython 3.11, x86-64: the image's platform). The
hashes are every file the package index holds for each version, as ``uv pip compile
--generate-hashes`` lists them, so pip checks whichever file it picks.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "requirements"
# what only the torch-based code paths import (the torch backend, CLIP, fine-tuning, the
# ONNX export, the static model's distillation); the API image runs without them
TORCH_ONLY = frozenset(
    canonicalize_name(n)
    for n in ("torch", "torchvision", "sentence-transformers", "transformers", "open-clip-torch", "timm", "skeletoken")
)
EXPORT_ROOTS = ("torch", "sentence-transformers")
BUILD_BACKEND = ("hatchling",)  # pyproject.toml's build-system: semcat's wheel is built offline in the image


def requirements_of(name: str, extras: frozenset[str] = frozenset()) -> list[tuple[str, frozenset[str]]]:
    """What ``name`` installed with ``extras`` requires here: (package, its extras) pairs
    (torch needs ``cuda-toolkit[cublas,...]``: the extras name the packages)."""
    out = []
    for line in metadata.distribution(name).requires or []:
        requirement = Requirement(line)
        if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in ("", *extras)):
            continue
        out.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return out


def closure(roots: list[str], skip: frozenset[str] = frozenset()) -> set[str]:
    seen: set[tuple[str, frozenset[str]]] = set()
    stack = [(canonicalize_name(r), frozenset[str]()) for r in roots]
    while stack:
        name, extras = stack.pop()
        if (name, extras) in seen or name in skip:
            continue
        seen.add((name, extras))
        stack += requirements_of(name, extras)
    return {name for name, _ in seen}


def pins(names: set[str]) -> list[str]:
    return sorted(f"{name}=={metadata.version(name)}" for name in names)


def compile_hashed(lines: list[str], target: Path, what: str) -> None:
    uv = os.environ.get("UV", "uv")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{target.stem}.in"
        source.write_text("\n".join(lines) + "\n")
        subprocess.run(
            [uv, "pip", "compile", str(source), "--no-deps", "--generate-hashes", "--python-version", "3.11",
             "--no-header", "--no-annotate", "-o", str(target), "--quiet"],
            check=True,
        )  # fmt: skip
    body = target.read_text()
    target.write_text(
        f"# {what}\n# Written by scripts/lock_image.py from the versions the test suite passed with; "
        "install with pip install --require-hashes --no-deps -r\n" + body
    )


def main() -> None:
    api = closure([name for name, _ in requirements_of("semcat")], skip=TORCH_ONLY)
    export = (closure(list(EXPORT_ROOTS)) | closure(list(BUILD_BACKEND))) - api
    OUT.mkdir(exist_ok=True)
    compile_hashed(pins(api), OUT / "api.txt", "The API image's packages: semcat's dependencies less torch's.")
    compile_hashed(
        pins(export), OUT / "export.txt", "The image's build stage adds these: the ONNX export and semcat's wheel."
    )
    print(f"requirements/api.txt: {len(api)} packages; requirements/export.txt: {len(export)}", file=sys.stderr)


if __name__ == "__main__":
    main()

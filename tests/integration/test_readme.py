"""The README's commands run as written: every shell block marked ``<!-- runnable -->`` is
run with bash, in order, in a fresh folder holding the repository's ``examples/`` and
``.venv`` (as a clone has them), on the real default model."""

from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def runnable_blocks() -> list[str]:
    return re.findall(r"<!-- runnable -->\s*```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_is_short_and_marks_its_runnable_commands() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; the guides under docs/ take the rest"
    assert len(runnable_blocks()) >= 2


def test_the_readmes_runnable_commands_run_as_written(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "activate").exists():
        pytest.skip("no .venv beside the repository (bash scripts/setup.sh makes it)")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMCAT_")} | {"HF_HUB_OFFLINE": "1"}
    for block in runnable_blocks():
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, (block, done.stdout[-2000:], done.stderr[-2000:])
    with (tmp_path / "predictions.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and all(r["decision"] in ("auto", "review") and r["level_1"] for r in rows)
    assert (tmp_path / "suspects.csv").read_text().startswith("id,label,suggested")

"""The one-way layers of .importlinter hold, and a deliberately wrong import breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("drpo", "graph", "nodes", "retrieval", "evals")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy(tmp: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / ".importlinter", tmp / ".importlinter")
    return tmp


def test_the_layers_contract_is_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # the bottom layer imports the runner
        ("drpo/core/aspects.py", "from drpo.runtime.runner import Run",
         "drpo.core.aspects -> drpo.runtime.runner"),
        # core types reach up into model access (the split of issue 23)
        ("drpo/core/state.py", "from drpo.llm.session import active_session",
         "drpo.core.state -> drpo.llm.session"),
        # model access reaches up into retrieval
        ("drpo/llm/calls.py", "from retrieval import resolve_retriever",
         "drpo.llm.calls -> retrieval"),
    ],
)  # fmt: skip
def test_an_upward_import_breaks_the_contract(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    root = _copy(tmp_path)
    assert _lint(root).returncode == 0  # the copy itself is clean
    path = root / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = _lint(root)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and broken in result.stdout

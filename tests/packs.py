"""A real alignment pack made by a small fake-model run (shared by the serving tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from drpo.runtime.runner import Run
from drpo.serving.pack import export_pack
from tests.conftest import fake_context, run_once, small_config


def make_pack(root: Path) -> tuple[Path, dict[str, Any]]:
    """Optimize 4 ICL examples and a prompt with the fake model, export the pack."""
    run_once(root, "p", fake_context("fake"), {**small_config(), "icl": {"n": 4, "D": 1}})
    out = root / "pack.json"
    pack = asyncio.run(export_pack(Run(root, "p"), out))
    return out, pack

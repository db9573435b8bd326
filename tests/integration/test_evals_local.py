"""A real evaluation with the embedded local model (llama.cpp) as base and judge, on 2 dev items."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import pytest

from drpo.cli.main import main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_real_eval_with_the_embedded_model(tmp_path: Path) -> None:
    argv = [
        "eval", "--methods", "base", "--ids", "15,985", "--base", "local", "--judge", "local",
        "--max-tokens", "48", "--run-dir", str(tmp_path), "--eval-id", "real",
        "--concurrency", "1",
    ]  # fmt: skip
    assert main(argv) == 0
    folder = tmp_path / "evals" / "real"
    result = json.loads((folder / "result.json").read_text())
    assert result["models"] == {"base": "local", "judge": "local"}
    assert result["calls"] == {"answer_item": 2, "judge_item": 2}
    rows = result["items"]
    assert [r["id"] for r in rows] == [15, 985]
    assert all(r["output"] for r in rows)  # real generated text
    for row in rows:  # a real judge reply that parsed into 1-5 scores (or a counted failure)
        if row["scores"] is not None:
            assert all(1 <= v <= 5 for v in row["scores"].values())
            assert row["judge_reply"].lstrip().startswith("{")
    summary = result["methods"][0]["summary"]
    assert summary["n_items"] == 2 and summary["length"] > 0
    report = (folder / "report.md").read_text()
    assert "| base | 0 |" in report and "judge `local`" in report
    png = folder / "methods.png"
    assert png.read_bytes()[:8] == PNG
    height, width, _ = matplotlib.image.imread(png).shape
    assert height > 100 and width > 100
    # run again: everything comes from the cache, no model call
    assert main(argv) == 0
    again = json.loads((folder / "result.json").read_text())
    assert again["calls"] == {"answer_item": 0, "judge_item": 0}
    assert [r["scores"] for r in again["items"]] == [r["scores"] for r in rows]

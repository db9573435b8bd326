"""No silent self-grading: `drpo eval` refuses an eval judge that also judged a pack's
optimization (one line, exit 2, nothing written) unless --allow-self-judge, and every report
names the eval judge and each pack's optimizing judges (evals/self_judge.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drpo.cli.main import main
from evals.self_judge import optimizing_judges, same_model, self_judge_error
from tests.packs import make_pack

EVAL = ["eval", "--methods", "drpo", "--ids", "15,808", "--base", "fake", "--max-tokens", "64"]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _switched(pack: dict[str, Any], path: Path, *judges: str) -> Path:
    """The pack as a run whose judge switched (resume or fork) would have exported it."""
    history = [{"model": j, "from": {"stage": "icl", "level": i}} for i, j in enumerate(judges)]
    data = {**pack, "model_history": {**pack["model_history"], "judge": history}}
    path.write_text(json.dumps({**data, "models": {**pack["models"], "judge": judges[-1]}}))
    return path


def test_same_model_and_the_refusal_line() -> None:
    assert same_model("local", "local:smollm2") and same_model("fake", "fake:latency_ms=5")
    assert not same_model("local", "local:gemma3-270m") and not same_model("fake", "local")
    a, b = "openai-compatible:m@http://a:1/v1", "openai-compatible:m@http://b:1/v1"
    assert same_model(a, a + ",temperature=0.2") and not same_model(a, b)
    pack = {"models": {"judge": "local"}, "model_history": {"judge": [{"model": "fake"}]}}
    assert optimizing_judges(pack) == ["fake", "local"]
    assert self_judge_error(["fake"], "openai:gpt-4o", allow=False) is None
    assert self_judge_error(["fake"], "fake", allow=True) is None
    line = self_judge_error(["local", "fake"], "fake:log=/tmp/x", allow=False)
    assert line is not None and "--allow-self-judge" in line and "\n" not in line


def test_self_judged_eval_is_refused_then_allowed_and_marked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, pack = make_pack(tmp_path / "made")
    assert optimizing_judges(pack) == ["fake"]
    runs = tmp_path / "runs"
    runs.mkdir()
    other = _switched(pack, tmp_path / "other.json", "local")
    both = _switched(pack, tmp_path / "both.json", "local", "fake")  # a switch to fake mid-run
    capsys.readouterr()
    for argv in (
        ["--pack", str(path), "--judge", "fake"],
        ["--pack", str(both), "--judge", "fake:latency_ms=1"],  # one model, other options
        ["--pack", str(other), "--ablation", f"self={path}", "--judge", "fake"],
    ):
        assert main([*EVAL, "--run-dir", str(runs), *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("drpo: error: the eval judge") and "\n" not in err, err
        assert "--allow-self-judge" in err
        assert _tree(runs) == []  # nothing written: no cache, no eval folder
    # another judge than the pack's: evaluated, the report names both
    assert main([*EVAL, "--run-dir", str(runs), "--pack", str(other), "--judge", "fake",
                 "--eval-id", "fair"]) == 0  # fmt: skip
    result = json.loads((runs / "evals" / "fair" / "result.json").read_text())
    assert result["judges"] == {
        "eval": "fake", "optimizing": {"drpo": ["local"]}, "self_graded": [],
        "allow_self_judge": False,
    }  # fmt: skip
    report = (runs / "evals" / "fair" / "report.md").read_text()
    assert "eval judge `fake`" in report and "optimized with judge(s) `local`" in report
    assert "SELF-GRADED" not in report
    # allowed: evaluated and marked in result.json, report.md and the output
    capsys.readouterr()
    assert main([*EVAL, "--run-dir", str(runs), "--pack", str(path), "--judge", "fake",
                 "--allow-self-judge", "--eval-id", "self"]) == 0  # fmt: skip
    assert "SELF-GRADED (--allow-self-judge): fake also optimized drpo" in capsys.readouterr().out
    result = json.loads((runs / "evals" / "self" / "result.json").read_text())
    assert result["judges"]["self_graded"] == ["drpo"] and result["judges"]["allow_self_judge"]
    report = (runs / "evals" / "self" / "report.md").read_text()
    assert report.startswith("# just-eval-instruct evaluation (SELF-GRADED)")
    assert "**SELF-GRADED**: the eval judge `fake` also judged the optimization of `drpo`" in report
    # `drpo report` of both results keeps the mark and both judges
    out = tmp_path / "combined"
    assert main(["report", str(runs / "evals" / "fair" / "result.json"),
                 str(runs / "evals" / "self" / "result.json"), "-o", str(out),
                 "--run-dir", str(runs)]) == 0  # fmt: skip
    combined = (out / "report.md").read_text()
    assert "(SELF-GRADED)" in combined and "optimized with judge(s) `local`" in combined

"""`drpo optimize --dry-run --icl-from RUN|PACK`: the run reuses an optimized ICL set and skips
stage 1, so the estimate predicts no stage-1 call; it bounds the real run's calls and is close
to them (it once predicted 86 optimizer calls for a run that made 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drpo.cli.main import main
from tests.support.files import tree_digest
from tests.support.runs import read_log, show

SOURCE = ["--icl", "4", "--icl-D", "3", "--icl-M", "2", "-W", "1", "-M", "1", "-D", "1",
          "--seeds", "2", "-K", "1", "--select", "last-beam"]  # fmt: skip
STAGE2 = ["-W", "2", "-M", "2", "-D", "3", "--seeds", "8", "-K", "2", "--icl", "4", "--icl-D", "3",
          "--icl-M", "2", "--select", "last-beam"]  # fmt: skip
ROLES = ("selector", "optimizer", "base", "judge")


def _optimize(runs: Path, run_id: str, models: str, *extra: str) -> int:
    argv = ["optimize", "--run-dir", str(runs), "--run-id", run_id, "--models", models]
    return main([*argv, *extra])


def _predicted(text: str) -> dict[str, int]:
    """The calls column of the dry run's table, per role."""
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    return {role: int(rows[role][1]) for role in ROLES}


def test_dry_run_with_icl_from_predicts_no_stage_1_and_bounds_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert _optimize(runs, "src", "fake", *SOURCE) == 0
    pack = tmp_path / "pack.json"
    assert main(["export", "src", "--run-dir", str(runs), "-o", str(pack)]) == 0
    capsys.readouterr()
    before = tree_digest(runs)
    assert _optimize(runs, "plain", "fake", "--dry-run", *STAGE2) == 0
    plain = _predicted(capsys.readouterr().out)
    predictions = {}
    for source in ("src", str(pack)):
        assert _optimize(runs, "dry", "fake", "--dry-run", "--icl-from", source, *STAGE2) == 0
        out = capsys.readouterr().out
        assert f"ICL stage skipped: 4 optimized examples from {source} (--icl-from)" in out
        predictions[source] = _predicted(out)
    assert tree_digest(runs) == before  # a dry run writes nothing
    assert predictions["src"] == predictions[str(pack)]
    predicted = predictions["src"]
    # stage 1 is what the plain estimate adds: 4 selections, 4 * (2 + 2 + 2) rewrites (W=1)
    assert plain["optimizer"] - predicted["optimizer"] == 4 * (2 + 2 + 2)
    assert plain["selector"] - predicted["selector"] == 4
    log = tmp_path / "calls.jsonl"
    assert _optimize(runs, "real", f"fake:log={log}", "--icl-from", "src", *STAGE2) == 0
    made = show(runs, "real")["calls"]
    kinds = {kind: sum(r["kind"] == kind for r in read_log(log)) for kind in ("transition",)}
    assert kinds["transition"] == made["optimizer"]
    made["selector"] = made.get("selector", 0) + made.get("selector_cache_hits", 0)
    for role in ROLES:  # an upper bound, and close: what duplicates save at most
        assert made[role] <= predicted[role], role
    assert predicted["optimizer"] == made["optimizer"] == 2 + 4 + 4  # M, then W*M per level
    assert sum(predicted.values()) <= 1.25 * sum(made[role] for role in ROLES)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--icl-from", "nope"], "no run 'nope'"),
        (["--icl-from", "missing.json"], "--icl-from missing.json: cannot read the pack"),
        (["--icl-from", "src", "--icl", "8", "-K", "5"], "K=5 is larger than the --icl-from set"),
    ],
)
def test_dry_run_with_a_bad_icl_from_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    runs = tmp_path / "runs"
    assert _optimize(runs, "src", "fake", *SOURCE) == 0
    capsys.readouterr()
    before = tree_digest(runs)
    assert _optimize(runs, "dry", "fake", "--dry-run", *STAGE2[:-2], *extra) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err, err
    assert tree_digest(runs) == before
    assert json.loads((runs / "src" / "run.json").read_text())["run_id"] == "src"

"""Provenance of forks: a fork's model history is its parent's up to the fork level, then its
own; its pack carries ``forked_from`` and the judge of each level; and after a switch of judge,
stage 1's best so far never compares rewards of two judges (nodes/prune_beam.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import pytest
from langgraph.runtime import Runtime
from langgraph.store.memory import InMemoryStore

from drpo.cli.main import main
from drpo.core.context import Context
from drpo.core.state import DRPOState, Evaluation, JudgeTask, Scored, make_candidate
from drpo.llm.judges import Verdict
from drpo.serving.pack_schema import PackError, check_pack
from nodes.prune_beam import prune_beam
from tests.support.runs import show

ARGS = ["--icl", "2", "--icl-D", "1", "-W", "1", "-M", "1", "-D", "3", "--seeds", "5", "-K", "1",
        "--select", "last-beam"]  # fmt: skip
HERE = "tests.unit.test_fork_provenance"


def _verdict(task: JudgeTask, score: float) -> Verdict:
    aspects = task["aspects"]["aspects"]
    return {"scores": {a: {"rationale": "test", "score": score} for a in aspects}, "calls": 0}


async def initial_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """Likes the base responses (4) more than any rewrite (2)."""
    return _verdict(task, 4.0 if task["candidate"]["level"] == 0 else 2.0)


async def flat_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """Scores everything 3: below initial_judge's 4 for the base responses."""
    return _verdict(task, 3.0)


async def first_track_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """Every aspect of the first example 5 (its track stops at level 0), the others 4."""
    return _verdict(task, 5.0 if task["candidate"]["track"] == "icl/00" else 4.0)


def _optimize(runs: Path, run_id: str, *extra: str) -> None:
    argv = ["optimize", "--run-dir", str(runs), "--run-id", run_id, "--models", "fake"]
    assert main([*argv, *ARGS, *extra]) == 0


def _fork(runs: Path, parent: str, new: str, stage: str, level: int, *extra: str) -> None:
    argv = ["fork", parent, "--run-dir", str(runs), "--run-id", new, "--stage", stage]
    assert main([*argv, "--level", str(level), *extra]) == 0


def _export(runs: Path, run_id: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"{run_id}.json"
    assert main(["export", run_id, "--run-dir", str(runs), "-o", str(out)]) == 0
    return dict(json.loads(out.read_text()))


def _judges(history: dict[str, Any], key: str = "judge") -> list[tuple[str, str, int]]:
    return [(r["model"], r["from"]["stage"], r["from"]["level"]) for r in history[key]]


def test_a_fork_has_its_parents_history_then_its_own_and_a_pack_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, j2 = tmp_path / "runs", f"fake:log={tmp_path / 'j2.jsonl'}"
    _optimize(runs, "p")
    _fork(runs, "p", "f1", "system_prompt", 1, "--judge", j2)
    f1 = _export(runs, "f1", tmp_path)
    # the new judge judged from the fork point on, the parent's before (not from icl level 0)
    assert _judges(f1["model_history"]) == [("fake", "icl", 0), (j2, "system_prompt", 2)]
    assert all(len(f1["model_history"][k]) == 1 for k in ("base", "optimizer", "judge_node"))
    cid = show(runs, "f1")["forked_from"]["checkpoint_id"]
    assert f1["forked_from"] == {"run": "p", "stage": "system_prompt", "level": 1,
                                 "checkpoint_id": cid}  # fmt: skip
    by_level = {(r["stage"], r["level"]): r["judge"] for r in f1["level_judges"]}
    assert by_level == {("icl", 0): "fake", ("icl", 1): "fake", ("system_prompt", 0): "fake",
                        ("system_prompt", 1): "fake", ("system_prompt", 2): j2,
                        ("system_prompt", 3): j2}  # fmt: skip
    origin = check_pack(f1).forked_from
    assert origin is not None and (origin.run, origin.level) == ("p", 1)
    assert _export(runs, "p", tmp_path)["forked_from"] is None
    # a fork of the fork before its switch, with the first judge: the switch is not its history
    _fork(runs, "f1", "f2", "system_prompt", 1, "--judge", "fake")
    assert _judges(show_history(runs, "f2", capsys)) == [("fake", "icl", 0)]
    # after it, with another judge node: both switches, each from where it began
    _fork(runs, "f1", "f3", "system_prompt", 2, "--judge-node", "holistic")
    f3 = show_history(runs, "f3", capsys)
    assert _judges(f3) == [("fake", "icl", 0), (j2, "system_prompt", 2)]
    assert _judges(f3, "judge_node") == [("dynamic", "icl", 0), ("holistic", "system_prompt", 3)]
    assert main(["show", "f3", "--run-dir", str(runs)]) == 0
    switch = "judge_node: dynamic (from icl level 0), then holistic (from system_prompt level 3)"
    assert switch in capsys.readouterr().out
    bad = {**f1, "forked_from": {"run": "p", "stage": "both", "level": 1}}
    with pytest.raises(PackError, match="forked_from.stage"):
        check_pack(bad)


def show_history(runs: Path, run_id: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["show", run_id, "--run-dir", str(runs), "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out)["model_history"])


def test_a_judge_switch_in_stage_1_never_compares_two_judges_rewards(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _optimize(runs, "p", "--judge-node", f"{HERE}:initial_judge")
    parent = show(runs, "p")
    # the parent's judge liked the base responses (4) over every rewrite (2): level 0 won
    assert [r["best_level"] for r in parent["icl_report"]] == [0, 0]
    _fork(runs, "p", "f", "icl", 0, "--judge-node", f"{HERE}:flat_judge")
    fork = show(runs, "f")
    # the new judge scores level 1's rewrites 3: below the old judge's 4, yet they win, since
    # the old judge's rewards are not compared with the new one's
    flat = f"fake [{HERE}:flat_judge judge]"
    assert [(r["best_level"], r["reward"], r["judge"]) for r in fork["icl_report"]] == [
        (1, 3.0, flat), (1, 3.0, flat)
    ]  # fmt: skip
    assert fork["icl_examples"] != parent["icl_examples"]
    rows = {(r["stage"], r["level"]): r["judge_node"] for r in fork["level_judges"]}
    assert rows[("icl", 0)] == f"{HERE}:initial_judge" and rows[("icl", 1)] == f"{HERE}:flat_judge"


def test_tracks_stopped_on_the_old_judges_fives_go_on_under_a_new_judge(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _optimize(runs, "p", "--icl-D", "2", "--judge-node", f"{HERE}:first_track_judge")
    parent = show(runs, "p")
    assert [(r["stopped_early"], r["best_level"]) for r in parent["icl_report"]] == [
        (True, 0), (False, 0)
    ]  # fmt: skip
    _fork(runs, "p", "f", "icl", 0, "--judge-node", f"{HERE}:flat_judge")
    fork = show(runs, "f")
    # the first track stopped on the old judge's 5s: the new judge scores it on, and its 3
    # replaces the old 5 (and the second track's old 4)
    assert [(r["best_level"], r["reward"]) for r in fork["icl_report"]] == [(1, 3.0), (1, 3.0)]
    assert [row["tracks"] for row in fork["icl_levels"]] == [2, 2, 2]


async def five_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    return _verdict(task, 5.0)


def test_a_patience_check_after_a_judge_switch_judges_the_best_so_far_again(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    patience = ["-D", "6", "--seeds", "16", "--select", "race", "--patience", "3"]
    _optimize(runs, "p", *patience, "--judge-node", f"{HERE}:five_judge")
    checks = show(runs, "p")["progress_checks"]
    assert [(c["level"], c["best_mean"]) for c in checks] == [(2, 5.0), (4, 5.0)]
    _fork(runs, "p", "f", "system_prompt", 3, "--judge-node", f"{HERE}:flat_judge")
    checks = show(runs, "f")["progress_checks"]
    # level 4's check: the best so far (the initial prompt, 5 by the old judge) judged again
    assert [(c["level"], c["best_mean"], c["mean"]) for c in checks] == [
        (2, 5.0, 5.0), (4, 3.0, 3.0)
    ]  # fmt: skip


def _scored(track: str, level: int, reward: float, judge: str) -> tuple[Scored, Evaluation]:
    cand = make_candidate(f"{track}:L{level:02d}", track, level, None, f"{track} {level}")
    ev: Evaluation = {"candidate": cand, "query": track, "output": cand["text"],
                      "scores": {"helpfulness": {"rationale": "", "score": reward}},
                      "reward": reward}  # fmt: skip
    return cast(Scored, {"candidate": cand, "evaluations": [ev], "reward": reward,
                         "judge": judge}), ev  # fmt: skip


def test_prune_beam_after_a_resume_with_another_judge() -> None:
    """The node alone, as a resume with another --judge runs it: a best marked with the old
    judge is replaced by the new judge's level even at a lower reward, a track stopped on the
    old judge's 5s is live again, and a best of the same judge still needs a higher reward."""
    old_a, _ = _scored("a", 0, 5.0, "old")
    old_b, _ = _scored("b", 0, 4.0, "old")
    same_c, _ = _scored("c", 0, 4.0, "fake")
    _, ev_b = _scored("b", 1, 2.0, "")
    _, ev_c = _scored("c", 1, 3.0, "")
    state = cast(DRPOState, {
        "stage": "icl", "level": 1, "config": {}, "tracks": {t: {"initial": t} for t in "abc"},
        "beam": {"a": [old_a], "b": [old_b], "c": [same_c]},
        "best": {"a": old_a, "b": old_b, "c": same_c}, "done_tracks": ["a"],
        "evaluations": [ev_b, ev_c], "proposals": [],
    })  # fmt: skip
    runtime = Runtime(context=Context(judge_model="fake"), store=InMemoryStore())
    out = asyncio.run(prune_beam(state, runtime))
    best = {
        t: (b["candidate"]["level"], b["reward"], dict(b)["judge"]) for t, b in out["best"].items()
    }
    assert best == {"a": (0, 5.0, "old"), "b": (1, 2.0, "fake"), "c": (0, 4.0, "fake")}
    assert out["done_tracks"] == []  # "a" goes on: its 5s were the old judge's

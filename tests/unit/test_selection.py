"""Returning the best, not the last: validation selection of P*, stage 1's best so far and early
stop, per-stage rewards, --icl-from, and the bad input of these options."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from drpo.cli.main import main
from tests.conftest import fake_context, fake_spec, read_log, run_once, show
from tests.support.runs import optimize

BASE = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "-K", "1"]


def _optimize(runs: Path, run_id: str, log: Path, *extra: str) -> int:
    """With the rule before racing (tests/unit/test_racing.py races)."""
    return optimize(runs, run_id, f"fake:log={log}", *BASE, "--select", "validation", *extra)


def test_validation_selects_on_held_out_queries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert _optimize(runs, "v", tmp_path / "v.jsonl", "--seeds", "12", "--validation", "6") == 0
    out = capsys.readouterr().out
    result = show(runs, "v")
    v = result["validation"]
    level_queries = {q for row in result["levels"] for q in row["queries"]}
    assert len(v["queries"]) == 6 and not set(v["queries"]) & level_queries
    assert set(v["queries"]) <= set(result["seed_order"])
    sources = [s for c in v["candidates"] for s in c["sources"]]
    assert sources[0] == "initial" and "level:3" in sources and "final-beam:1" in sources
    assert {f"level:{k}" for k in range(4)} <= set(sources)
    # the initial prompt and level 0's best are one text, scored once
    assert v["candidates"][0]["sources"] == ["initial", "level:0"]
    # the gate: P* beats the initial prompt significantly (one-sided paired t test), or is it
    assert v["gate"] == "significant"
    assert v["chosen"]["mean"] >= v["initial"]["mean"]
    if v["chosen"]["id"] != v["initial"]["id"]:
        assert v["significant"] and v["difference"]["mean"] > 0
    for c in v["candidates"]:
        low, high = c["ci95"]
        assert low <= c["mean"] <= high and len(c["rewards"]) == 6
        assert abs(c["mean"] - sum(c["rewards"]) / 6) < 1e-9  # the mean of its query rewards
    assert result["best_system_prompt"] == v["chosen"]["text"]
    assert result["best_reward"] == v["chosen"]["mean"]
    assert "validation on 6 held-out queries" in out and "initial prompt:" in out
    # without the gate, the highest mean wins (the same search: same candidates and scores)
    assert _optimize(runs, "m", tmp_path / "m.jsonl", "--seeds", "12", "--validation", "6",
                     "--gate", "none") == 0  # fmt: skip
    plain = show(runs, "m")["validation"]
    assert plain["candidates"] == v["candidates"]
    assert plain["chosen"]["mean"] == max(c["mean"] for c in v["candidates"])
    assert plain["chosen"]["mean"] > v["initial"]["mean"]


def test_without_leftover_seeds_validation_falls_back_to_last_beam(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert _optimize(runs, "f", tmp_path / "f.jsonl", "--seeds", "4") == 0  # levels use all 4
    result = show(runs, "f")
    assert result["validation"] is None
    assert len(result["notes"]) == 1 and "select=last-beam" in result["notes"][0]
    assert result["best_system_prompt"] == result["levels"][-1]["beam"][0]["text"]
    assert "note: validation selection needs" in capsys.readouterr().out


def test_stage_1_keeps_the_best_response_of_each_track(tmp_path: Path, log_path: Path) -> None:
    config = {
        "icl": {"n": 4, "D": 4},
        "system_prompt": {"W": 1, "M": 1, "D": 1, "K": 1, "seeds": 2, "select": "last-beam"},
    }
    result = run_once(tmp_path, "s1", fake_context(fake_spec(log_path)), config)
    by_track: dict[str, list[dict]] = {}
    for record in result["records"]["icl"]:
        by_track.setdefault(record["track"], []).append(record)
    earlier_kept = 0
    for i, (_track, records) in enumerate(sorted(by_track.items())):
        # every level of a track is judged on the same query and aspects: rewards compare
        assert len({tuple(r["queries"]) for r in records}) == 1
        assert len({json.dumps(r["aspects"], sort_keys=True) for r in records}) == 1
        rows = [(r["candidates"][0]["reward"], -r["level"], r["candidates"][0]) for r in records]
        reward, neg_level, best = max(rows, key=lambda x: (x[0], x[1]))  # earliest on ties
        assert result["icl_examples"][i]["response"] == best["text"]
        report = result["icl_report"][i]
        assert report["best_level"] == -neg_level and report["reward"] == reward
        earlier_kept += -neg_level < records[-1]["level"]
    assert earlier_kept >= 1  # some track's best is an earlier rewrite, not the last one


def test_stage_1_stops_a_track_whose_every_aspect_scores_5(tmp_path: Path) -> None:
    config = {
        "icl": {"n": 2, "D": 3},
        "system_prompt": {"W": 1, "M": 1, "D": 1, "K": 1, "seeds": 2, "select": "last-beam"},
    }
    judge = "tests.custom_judge:perfect_judge"
    stop = tmp_path / "stop.jsonl"
    run_once(tmp_path, "a", fake_context(fake_spec(stop), judge_node=judge), config)
    go = tmp_path / "go.jsonl"
    config_go = {**config, "icl": {**config["icl"], "stop_at_max": False}}
    run_once(tmp_path, "b", fake_context(fake_spec(go), judge_node=judge), config_go)
    stopped = show(tmp_path, "a")
    assert [r["level"] for r in stopped["icl_levels"]] == [0]
    assert all(r["stopped_early"] and r["best_level"] == 0 for r in stopped["icl_report"])
    # stage 2 transitions only (1 per level); the ICL tracks made none
    assert Counter(r["kind"] for r in read_log(stop))["transition"] == 1
    assert Counter(r["kind"] for r in read_log(go))["transition"] == 1 + 2 * 3


def test_reward_per_stage(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["--seeds", "4", "--select", "last-beam"]
    assert _optimize(runs, "i", tmp_path / "i.jsonl", *args, "--icl-reward", "static") == 0
    assert _optimize(runs, "p", tmp_path / "p.jsonl", *args, "--prompt-reward", "static") == 0
    icl_static, prompt_static = show(runs, "i"), show(runs, "p")
    assert icl_static["calls"]["selector"] == 4  # the 4 level queries only
    assert prompt_static["calls"]["selector"] == 2  # the 2 ICL queries only
    static_names = set(next(iter(icl_static["records"]["icl"][0]["aspects"].values())))
    dynamic_names = set(next(iter(prompt_static["records"]["icl"][0]["aspects"].values())))
    assert static_names != dynamic_names


def test_icl_from_a_run_or_a_pack_skips_stage_1(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["--seeds", "4", "--select", "last-beam"]
    assert _optimize(runs, "first", tmp_path / "1.jsonl", *args) == 0
    first = show(runs, "first")
    log = tmp_path / "2.jsonl"
    assert _optimize(runs, "again", log, *args, "--icl-from", "first") == 0
    again = show(runs, "again")
    assert again["icl_examples"] == first["icl_examples"] and again["icl_levels"] == []
    kinds = Counter(r["kind"] for r in read_log(log))
    proposed = sum(r["candidates"] + r["dropped_duplicates"] for r in again["levels"][1:])
    assert kinds["transition"] == proposed  # stage 2's transitions only
    pack = tmp_path / "pack.json"
    assert main(["export", "first", "--run-dir", str(runs), "-o", str(pack)]) == 0
    assert _optimize(runs, "packed", tmp_path / "3.jsonl", *args, "--icl-from", str(pack)) == 0
    assert show(runs, "packed")["icl_examples"] == first["icl_examples"]


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--validation", "0"], "--validation must be at least 1"),
        (["--seeds", "6", "--validation", "3"], "only 2 seed queries are left"),
        (["--confirm", "-1"], "--confirm must be at least 0, got -1"),
        (["--seeds", "12", "--validation", "6", "--confirm", "3"], "only 2 seed queries are left"),
        (["--select", "best"], "invalid choice"),
        (["--icl-from", "missing-run"], "no run 'missing-run'"),
        (["--icl-from", "PACK"], "no optimized ICL examples"),
        (["--judge-n", "holistic"], "unrecognized arguments: --judge-n"),  # no abbreviations
    ],
)
def test_bad_selection_input_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    runs = tmp_path / "runs"
    pack = tmp_path / "pack.json"
    pack.write_text('{"format": "drpo-alignment-pack/1", "icl_examples": []}')
    extra = [str(pack) if e == "PACK" else e for e in extra]
    try:
        code = _optimize(runs, "bad", tmp_path / "b.jsonl", *extra)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not runs.exists() and not (tmp_path / "b.jsonl").exists()


def test_table5_rows_are_eval_methods(tmp_path: Path) -> None:
    from evals.methods import load_pack, resolve_all

    runs = tmp_path / "runs"
    args = ["--seeds", "4", "--select", "last-beam"]
    packs = {}
    for run_id, extra in (
        ("dyn", []),
        ("ps", ["--prompt-reward", "static"]),
        ("is", ["--icl-reward", "static"]),
    ):
        assert _optimize(runs, run_id, tmp_path / f"{run_id}.jsonl", *args, *extra) == 0
        packs[run_id] = tmp_path / f"{run_id}.json"
        assert main(["export", run_id, "--run-dir", str(runs), "-o", str(packs[run_id])]) == 0
    ablations = {
        name: (load_pack(packs[run_id]), str(packs[run_id]))
        for name, run_id in (("prompt-static", "ps"), ("icl-static", "is"))
    }
    methods = resolve_all(["table5"], load_pack(packs["dyn"]), [], str(packs["dyn"]), ablations)
    assert [m["name"] for m in methods] == ["drpo", "drpo:prompt-static", "drpo:icl-static"]
    assert "system prompt: static rewards, ICL: dynamic" in methods[1]["source"]
    assert "system prompt: dynamic rewards, ICL: static" in methods[2]["source"]
    assert methods[1]["system_prompt"] == show(runs, "ps")["best_system_prompt"]
    assert methods[2]["pool"] == show(runs, "is")["icl_examples"]


def test_the_gate_is_a_one_sided_paired_t_test() -> None:
    from drpo.core.intervals import better

    # mean 0.5, sd 0.5345, n = 8: t = 0.5 / (0.5345 / sqrt 8) = 2.646 > 1.895 (df 7, 5%)
    assert better([1, 0, 1, 0, 1, 0, 1, 0])
    # mean 0.25, sd 0.4629: t = 1.528 < 1.895
    assert not better([1, 0, 0, 0, 1, 0, 0, 0])
    assert not better([0.4])  # one query: no test
    assert better([0.2, 0.2, 0.2]) and not better([0.0, 0.0, 0.0])  # no spread

"""`drpo reproduce TABLE` with the fake model, in process: the plan (run ids, shared ICL sets),
the tables with paired differences recomputed by hand, a second invocation that makes no call
and rewrites no finished run, one budget shared by the runs, the dry run, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest

from drpo.cli.main import main
from drpo.core.config import RunConfig
from drpo.reproduce.budget import Cost, Pool
from drpo.reproduce.plan import PlanError, order, plan_table
from evals.benchmark import REGULAR_ASPECTS
from tests.support.runs import REPRODUCE_SMALL as SMALL

FAKE = {role: "fake" for role in ("base", "optimizer", "judge", "selector")}


def _reproduce(runs: Path, table: str, *extra: str, models: str = "fake") -> int:
    return main(
        [
            "reproduce",
            table,
            "--models",
            models,
            "--eval-judge",
            "fake",
            "--allow-self-judge",
            "--run-dir",
            str(runs),
            *SMALL,
            *extra,
        ]
    )


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _meta(runs: Path, run_id: str) -> dict[str, Any]:
    return json.loads((runs / run_id / "run.json").read_text())


def _item_avgs(result: dict[str, Any], method: str) -> dict[int, float]:
    return {
        row["id"]: fmean(row["scores"][a] for a in REGULAR_ASPECTS)
        for row in result["items"]
        if row["method"] == method and row["scores"] is not None
    }


SHARED: dict[str, dict[str, str | None]] = {  # table -> {run row: the row whose ICL set it reuses}
    "table4": {"beam": None, "greedy": "beam", "mc": "beam"},
    "table5": {"dynamic": None, "static-prompt": "dynamic", "static-icl": "static", "static": None},
    "fig4": {"drpo": None},
    "table1": {"drpo": None},
    "table3": {"drpo": None},
}
ROWS = {  # table -> its rows, the baseline first
    "table4": ["drpo:beam", "drpo:greedy", "drpo:mc"],
    "table5": ["drpo:dynamic", "drpo:static-prompt", "drpo:static-icl", "drpo:static"],
    "fig4": ["drpo@K=0", "drpo@K=1", "drpo@K=2"],  # K stops at the pool of 2 (--icl 2)
    "table1": ["urial", "base", "drpo", "tuned:base", "tuned:urial"],
    "table3": ["drpo", "drpo-no-icl", "drpo-basic-prompt"],
}


@pytest.mark.parametrize("table", ["table4", "table5", "fig4", "table1", "table3"])
def test_a_table_with_paired_differences_then_a_rerun_that_calls_nothing(
    tmp_path: Path, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, log = tmp_path / "runs", tmp_path / "calls.jsonl"
    spec = f"fake:log={log}"
    tuned = ["--tuned", f"fake:latency_ms=1,log={log}"] if table == "table1" else []
    assert _reproduce(runs, table, *tuned, models=spec) == 0
    out = runs / "reproduce" / table
    got = json.loads((out / "result.json").read_text())
    keys = [r["key"] for r in got["rows"]]
    assert sorted(keys) == sorted(ROWS[table]) and got["baseline"] == ROWS[table][0]
    ids = {r["run"] for r in got["rows"] if r["run"]}
    assert ids == set(got["runs"]) and len(ids) == len(SHARED[table])
    # the plan: each run reuses the ICL set of the run the table shares it from
    by_row = {i.split("-", 1)[1].rsplit("-", 1)[0]: i for i in ids}
    assert set(by_row) == set(SHARED[table])
    for row, source in SHARED[table].items():
        meta = _meta(runs, by_row[row])
        if source is None:
            assert "icl_from" not in meta
        else:
            assert meta["icl_from"]["run_id"] == by_row[source]
            packs = [
                json.loads((out / "packs" / f"{by_row[r]}.json").read_text()) for r in (row, source)
            ]
            assert packs[0]["icl_examples"] == packs[1]["icl_examples"]
    # every row's paired difference to the baseline, recomputed from the items
    evals = got["evaluations"]
    base = _item_avgs(
        evals["base"], next(r["method"] for r in got["rows"] if r["key"] == got["baseline"])
    )
    assert len(base) == 4
    with (out / "table.csv").open() as f:
        lines = {line["row"]: line for line in csv.DictReader(f)}
    for row in got["rows"]:
        if row["key"] == got["baseline"]:
            assert row["paired"] is None
            continue
        mine = _item_avgs(
            evals["tuned" if row["key"].startswith("tuned:") else "base"], row["method"]
        )
        want = fmean(mine[i] - base[i] for i in base)
        paired = row["paired"]["avg"]
        assert paired["mean"] == pytest.approx(want) and paired["n"] == 4
        assert paired["ci95"][0] <= want <= paired["ci95"][1]
        assert float(lines[row["key"]]["diff_avg"]) == pytest.approx(want, abs=1e-4)
    md = (out / "table.md").read_text()
    assert "Δ Avg." in md and all(r["label"] in md for r in got["rows"])
    assert "eval judge: `fake`" in md and "optimizing judge(s): `fake:log=" in md
    assert (out / "paired.png").read_bytes()[:4] == b"\x89PNG"
    # run again (another concurrency: not a setting of the runs, the same run ids): every run
    # is skipped, its run.json untouched; the evaluation comes from its cache
    before = {i: (runs / i / "run.json").read_bytes() for i in ids}
    calls = _calls(log)
    capsys.readouterr()
    assert _reproduce(runs, table, "--concurrency", "3", *tuned, models=spec) == 0
    assert _calls(log) == calls
    assert {i: (runs / i / "run.json").read_bytes() for i in ids} == before
    assert capsys.readouterr().err.count("finished before") == len(ids)


def test_the_plan_names_runs_by_table_and_settings_and_orders_them() -> None:
    config = RunConfig()
    a, b = plan_table("table5", FAKE, config), plan_table("table5", FAKE, config)
    assert [r.id for r in a.runs] == [r.id for r in b.runs]  # a re-run finds them
    other = plan_table("table5", {**FAKE, "judge": "local"}, config)
    assert not {r.id for r in a.runs} & {r.id for r in other.runs}
    assert (
        plan_table("table5", FAKE, config.with_overrides(system_prompt={"D": 3})).runs[0].id
        != a.runs[0].id
    )
    ordered = [r.row for r in order(a)]
    assert ordered.index("static-icl") > ordered.index("static")
    assert ordered.index("static-prompt") > ordered.index("dynamic")
    rewards = {
        r.row: (r.config.stage_reward("icl"), r.config.stage_reward("system_prompt"))
        for r in a.runs
    }
    assert rewards == {
        "dynamic": ("dynamic", "dynamic"),
        "static-prompt": ("dynamic", "static"),
        "static-icl": ("static", "dynamic"),
        "static": ("static", "static"),
    }
    t4 = plan_table("table4", FAKE, config)
    assert {r.row: (r.config.search, r.config.system_prompt.W) for r in t4.runs} == {
        "beam": ("beam", 2),
        "greedy": ("greedy", 1),
        "mc": ("mc", 2),
    }
    t1 = plan_table("table1", FAKE, config, tuned="local")
    assert [r.key for r in t1.rows] == ["base", "urial", "drpo", "tuned:base", "tuned:urial"]
    assert t1.baseline == "urial" and len(t1.runs) == 1
    with pytest.raises(PlanError, match="--tuned is for table1"):
        plan_table("table4", FAKE, config, tuned="local")


def test_the_pool_never_grants_more_than_the_budget() -> None:
    needs = {"a": Cost(100), "b": Cost(50), "c": Cost(50)}
    pool = Pool(500, None, Cost(100), needs, {k: Cost() for k in needs})
    # a starts alone while b and c wait on it: it gets its share of the 400 left, not all
    assert pool.grant("a", ["a", "b", "c"]) == (200, None)
    pool.ended("a", Cost(120))  # a spent 120 of its 200: the other 80 are free again
    cap_b = pool.grant("b", ["b", "c"])[0]
    cap_c = pool.grant("c", ["c"])[0]
    assert cap_b is not None and cap_c is not None
    assert (cap_b, cap_c) == (140, 140)
    assert 120 + cap_b + cap_c + 100 <= 500  # spent + caps + the evaluation's reserve
    # dollars: the same split (by the calls each run still needs), the evaluation's set aside
    pool = Pool(None, 10.0, Cost(0, 2.0), needs, {k: Cost(0, 0.0) for k in needs})
    assert pool.grant("a", ["a", "b", "c"]) == (None, pytest.approx(4.0))
    pool.ended("a", Cost(100, 1.0))  # a spent $1 of its $4: $7 free for b and c
    assert pool.grant("b", ["b", "c"]) == (None, pytest.approx(3.5))
    # a resumed run keeps what it spent and gets a share of the rest on top
    pool = Pool(300, None, Cost(0), {"a": Cost(100)}, {"a": Cost(90)})
    assert pool.grant("a", ["a"]) == (300, None)


def test_one_budget_is_shared_by_the_runs_and_continued_when_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    # the evaluation sets aside 3 rows x 4 items x (1 answer + 3 judge attempts) = 48 calls
    code = _reproduce(runs, "table4", "--max-calls", "78")
    err = capsys.readouterr().err
    assert code == 3, err
    assert "is not complete" in err and not (runs / "reproduce").exists()
    total = 0
    for run in runs.iterdir():
        if (run / "run.json").exists():
            cap = _meta(runs, run.name)["context"]["max_calls"]
            used = sum(
                json.loads(line).get("calls", 0)
                for line in (run / "usage.jsonl").read_text().splitlines()
            )
            assert used <= cap
            total += used
    assert 0 < total <= 78 - 48
    assert _reproduce(runs, "table4", "--max-calls", "400") == 0
    assert (runs / "reproduce" / "table4" / "table.md").exists()


def test_the_dry_run_prints_the_whole_table_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert _reproduce(runs, "table4", "--dry-run") == 0
    out = capsys.readouterr().out
    assert not runs.exists()
    lines = [line for line in out.splitlines() if line.startswith("  run ")]
    assert len(lines) == 3 and "ICL set of table4-beam-" in lines[1]
    run_calls = sum(int(line.split(": ")[1].split()[0]) for line in lines)
    assert "up to 48 calls" in out  # 3 rows x 4 items x (1 + 3 attempts)
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert int(total.split()[1]) == run_calls + 48


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["table9", "--models", "fake", "--eval-judge", "local"], "unknown table 'table9'"),
        (
            ["table4", "--base", "fake", "--eval-judge", "local"],
            "table4 needs a model for every role",
        ),
        (["table4", "--models", "fake"], "table4 needs --eval-judge SPEC"),
        (
            ["table5", "--models", "fake", "--eval-judge", "fake:latency_ms=1"],
            "also judged the optimization",
        ),
        (
            ["fig4", "--models", "fake", "--eval-judge", "local", "--max-calls", "10"],
            "--max-calls 10 is too small",
        ),
        (
            ["table4", "--models", "fake", "--eval-judge", "local", "--max-usd", "5"],
            "--max-usd needs a price for every model",
        ),
        (
            [
                "table4",
                "--models",
                "fake",
                "--eval-judge",
                "local",
                "--max-calls",
                "500",
                "--server",
                "http://127.0.0.1:9",
            ],
            "give no budget with --server",
        ),
        (
            ["table4", "--models", "fake", "--eval-judge", "local", "--server", "127.0.0.1:9"],
            "expected an http(s):// URL",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert main(["reproduce", *argv, "--run-dir", str(runs), *SMALL]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not runs.exists()

"""Dollars: the price table and --price, the dry-run estimate in dollars, --max-usd as a hard cap
that stops at a checkpoint and resumes to the same result, spent dollars in show and the pack,
and bad input for the new flags (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drpo.cli.budget import EXIT_BUDGET
from drpo.cli.main import main
from drpo.llm.prices import cost, parse_price, table_price
from tests.conftest import fake_spec, read_log, show
from tests.support.files import tree_digest
from tests.support.runs import comparable, optimize

ARGS = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "--seeds", "6", "-K", "0",
        "--select", "last-beam"]  # fmt: skip
SAME = ("best_system_prompt", "best_reward", "icl_examples", "levels", "icl_levels", "calls")
# $ per 1M tokens; the fake model counts words as tokens
PRICES = ["--price", "base=100/200", "--price", "optimizer=300/600"]
PRICES += ["--price", "judge=50/100", "--price", "selector=10/20"]


def _optimize(runs: Path, run_id: str, log: Path, *extra: str) -> int:
    return optimize(runs, run_id, fake_spec(log), *ARGS, *extra)


def test_price_table_and_price_flag() -> None:
    assert table_price("openai:gpt-4o") == (2.50, 10.00)
    assert table_price("openai:gpt-4o-mini-2024-07-18") == (0.15, 0.60)  # a dated snapshot
    assert table_price("openai:gpt-4o-2024-08-06") == (2.50, 10.00)
    assert table_price("openai:my-finetune") is None
    assert table_price("openai-compatible:llama@http://127.0.0.1:1/v1") is None
    assert table_price("local") == (0.0, 0.0) and table_price("fake") is None
    assert parse_price("judge=2.5/10") == ("judge", (2.5, 10.0))
    assert cost((2.5, 10.0), 1_000_000, 100_000) == pytest.approx(3.5)


def test_dry_run_prints_dollars_per_role(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["optimize", "--run-dir", str(tmp_path), "--dry-run", *ARGS]
    assert main([*args, "--models", "openai:gpt-4o-mini", "--judge", "openai:gpt-4o"]) == 0
    out = capsys.readouterr().out
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:] if line.strip()}
    prices = {"selector": (0.15, 0.60), "optimizer": (0.15, 0.60), "base": (0.15, 0.60)}
    prices["judge"] = (2.50, 10.00)
    total = 0.0
    for role, price in prices.items():
        calls, _, max_out, inputs, usd = rows[role][:5]
        assert int(calls) > 0 and int(inputs) > 0
        assert float(usd) == pytest.approx(cost(price, int(inputs), int(max_out)), abs=0.006)
        total += float(usd)
    assert float(rows["total"][4]) == pytest.approx(total, abs=0.02) and total > 0
    # an unpriced role shows "?" and says how to price it
    assert (
        main([*args, "--models", "openai:gpt-4o", "--base", "openai-compatible:m@http://h/v1"]) == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[4].split()[5] == "?" and "No price for: base" in out
    assert (
        main(
            [
                *args,
                "--models",
                "openai:gpt-4o",
                "--base",
                "openai-compatible:m@http://h/v1",
                "--price",
                "base=0.5/1",
            ]
        )
        == 0
    )
    assert "No price for" not in capsys.readouterr().out


def test_max_usd_stops_at_a_checkpoint_and_resumes_to_the_same_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _optimize(tmp_path / "ref", "ref", tmp_path / "ref.jsonl", *PRICES) == 0
    reference = show(tmp_path / "ref", "ref")
    total = reference["spent_usd"]
    assert total > 0.01 and len(read_log(tmp_path / "ref.jsonl")) == 48

    runs, log, cap = tmp_path / "b", tmp_path / "b.jsonl", round(total / 2, 4)
    assert _optimize(runs, "b", log, *PRICES, "--max-usd", str(cap)) == EXIT_BUDGET
    err = capsys.readouterr().err
    assert f"(--max-usd {cap:g})" in err and "spent so far" in err and "drpo resume b" in err
    assert "best system prompt so far" in err and "Traceback" not in err
    stopped = show(runs, "b")
    made = len(read_log(log))
    assert stopped["status"] == "in progress" and 0 < made < 48
    assert 0 < stopped["spent_usd"] <= cap  # a hard cap: never passed
    # too small a cap again: stops at once, no call
    assert main(["resume", "b", "--run-dir", str(runs), "--max-usd", str(cap)]) == EXIT_BUDGET
    assert len(read_log(log)) == made
    assert main(["resume", "b", "--run-dir", str(runs), "--max-usd", str(total * 10)]) == 0
    done = show(runs, "b")
    for key in SAME:
        assert comparable(done)[key] == comparable(reference)[key], key
    assert done["spent_usd"] == pytest.approx(total, abs=1e-5)
    keys = [(r["kind"], r["key"]) for r in read_log(log)]
    assert len(keys) == len(set(keys)) == 48  # every call made once: the stop wasted nothing
    # dollars in the pack's provenance
    assert main(["export", "b", "--run-dir", str(runs), "-o", str(tmp_path / "pack.json")]) == 0
    pack = json.loads((tmp_path / "pack.json").read_text())
    assert pack["spent_usd"] == done["spent_usd"] and pack["prices"]["judge"] == [50.0, 100.0]
    assert sum(row["micro_usd"] for row in pack["usage"].values()) == round(total * 1e6)


BAD = {
    "structured unknown method": (["--structured", "judge=xml"], "unknown method"),
    "structured unknown role": (["--structured", "critic=tools"], "expected ROLE=METHOD"),
    "structured base role": (["--structured", "base=tools"], "plain text"),
    "structured no equals": (["--structured", "judgetools"], "expected ROLE=METHOD"),
    "price not numbers": (["--price", "judge=cheap/free"], "expected ROLE=IN/OUT"),
    "price one number": (["--price", "judge=2.5"], "expected ROLE=IN/OUT"),
    "price unknown role": (["--price", "critic=1/2"], "expected ROLE=IN/OUT"),
    "price negative": (["--price", "judge=-1/2"], "expected ROLE=IN/OUT"),
    "max-usd zero": (["--max-usd", "0"], "--max-usd must be positive"),
    "max-usd negative": (["--max-usd", "-2"], "--max-usd must be positive"),
    "max-usd unpriced fake": (["--max-usd", "5"], "the base model 'fake"),
    "max-usd unpriced judge": (
        [
            *PRICES[:2],
            "--max-usd",
            "5",
            "--models",
            "openai:gpt-4o",
            "--judge",
            "openai-compatible:m@http://h/v1",
        ],
        "the judge model 'openai-compatible:m@http://h/v1' has none: give --price judge=IN/OUT",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_cost_and_structured_flags(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags, message = BAD[case]
    runs = tmp_path / "runs"
    assert _optimize(runs, "ok", tmp_path / "ok.jsonl", "--max-calls", "3") == EXIT_BUDGET
    before = tree_digest(runs)
    capsys.readouterr()
    assert _optimize(runs, "x", tmp_path / "x.jsonl", *flags) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert err.startswith("drpo: error: ") and not (runs / "x").exists()
    # the same flags on resume: refused, the run untouched
    assert main(["resume", "ok", "--run-dir", str(runs), *flags]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("drpo: error: "), err
    assert tree_digest(runs) == before

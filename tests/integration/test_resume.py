"""Kill a real `drpo optimize` process in the middle of a fan-out, resume it, compare.

The checkpointer is tested with the LLM-call cache off: a call re-made after a kill is then a
real call. The cache has its own test below. The fake model's events file says which calls were
started by which process (tests/support/kills.py).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.kills import (
    ARGS,
    PER_ROLE,
    ROLE_OF_KIND,
    cached_calls,
    drpo,
    events,
    fake_spec,
    kill,
    launch,
    repeats,
    roles,
    saved_state,
    starts,
    wait_for,
)

SAME = ("best_system_prompt", "best_reward", "icl_examples", "levels", "icl_levels", "calls")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], set[str]]:
    """The uninterrupted run of ARGS (cache off): its saved state and its calls."""
    tmp = tmp_path_factory.mktemp("ref")
    spec, ev = fake_spec(tmp, "ref")
    out = drpo("optimize", "--run-dir", str(tmp / "ref"), "--run-id", "ref", "--models", spec,
               "--llm-cache", "off", *ARGS)  # fmt: skip
    assert out.returncode == 0, out.stderr
    keys = set(starts(events(ev)))
    assert roles(events(ev), keys) == PER_ROLE and len(starts(events(ev))) == 48
    return saved_state(tmp / "ref", "ref", None), keys


def _kill_after(proc: Any, ev: Path, calls: int, pause: float) -> None:
    wait_for(lambda: len(starts(events(ev))) >= calls or proc.poll() is not None, 240, "calls")
    time.sleep(pause)  # part of a call: the next batch is in flight
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_cache_off_repeats_at_most_the_calls_in_flight(
    tmp_path: Path, reference: tuple[dict[str, Any], set[str]]
) -> None:
    want, ref_keys = reference
    spec, ev = fake_spec(tmp_path, "k")
    base = ["--run-dir", str(tmp_path / "k"), "--llm-cache", "off"]
    proc = launch("optimize", "--run-id", "k", "--models", spec, *ARGS, *base)
    _kill_after(proc, ev, 30, 0.075)
    state = saved_state(tmp_path / "k", "k", None)
    record = kill(proc, ev, state, None, writer=True, during="optimize")
    assert state["status"] == "in progress" and 30 <= record["started_so_far"] < 48
    assert record["in_flight"] >= record["cut_off"]  # a call cut off mid-call is not saved

    resumed = drpo("resume", "k", *base)
    assert resumed.returncode == 0, resumed.stderr
    resumer = sorted({r["pid"] for r in events(ev)} - {proc.pid})
    got = saved_state(tmp_path / "k", "k", None)
    for key in SAME:  # "calls" exactly: per role, as the state counts them
        assert got[key] == want[key], key
    rows = events(ev)
    all_starts = starts(rows)
    # exactly the reference's calls were made, per role; the repeated ones were in flight
    assert set(all_starts) == ref_keys and roles(rows, set(all_starts)) == PER_ROLE
    [again] = repeats(rows, [proc.pid, *resumer], [proc.pid])
    assert again == len(all_starts) - 48 <= record["in_flight"]
    # the usage file (budget) counted every call started by either process, per role
    usage = {role: row["calls"] for role, row in got["usage"].items()}
    kind = {r["key"]: r["kind"] for r in rows}
    made = Counter(ROLE_OF_KIND.get(kind[k], kind[k]) for k in all_starts)
    assert all(usage[r] >= made[r] for r in PER_ROLE) and sum(usage.values()) - len(all_starts) <= 1


def test_sigkill_with_the_cache_replays_cached_calls(
    tmp_path: Path, reference: tuple[dict[str, Any], set[str]]
) -> None:
    """With the LLM cache, a call whose reply was cached before the kill is not made again:
    the calls started again are at most those neither saved nor cached."""
    _, ref_keys = reference
    spec, ev = fake_spec(tmp_path, "c")
    cache = tmp_path / "c-cache.sqlite"
    base = ["--run-dir", str(tmp_path / "c"), "--llm-cache", str(cache)]
    proc = launch("optimize", "--run-id", "c", "--models", spec, *ARGS, *base)
    _kill_after(proc, ev, 25, 0.1)
    state = saved_state(tmp_path / "c", "c", None)
    record = kill(proc, ev, state, cache, writer=True, during="optimize")
    held = cached_calls(cache)
    assert held >= record["saved_calls"]  # a saved call's reply was cached before it was saved
    resumed = drpo("resume", "c", *base)
    assert resumed.returncode == 0, resumed.stderr
    rows = events(ev)
    resumer = sorted({r["pid"] for r in rows} - {proc.pid})
    [again] = repeats(rows, [proc.pid, *resumer], [proc.pid])
    assert again <= record["started_so_far"] - held == record["in_flight"]
    assert set(starts(rows)) == ref_keys and cached_calls(cache) == 48  # each reply once


def test_sigkill_during_confirmation_repeats_at_most_the_calls_in_flight(tmp_path: Path) -> None:
    """Killed while the best validation prompt and the initial one answer the confirmation
    queries (the last 16 model calls: the judge is a node that calls no model), the resumed run
    repeats at most the calls in flight and ends as an unkilled run."""
    args = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "--seeds", "14",
            "-K", "2", "--validation", "2", "--confirm", "8",
            "--judge-node", "tests.custom_judge:tips_judge"]  # fmt: skip
    spec, ev = fake_spec(tmp_path, "cref")
    base = ["--llm-cache", "off"]
    out = drpo("optimize", "--run-dir", str(tmp_path / "cref"), "--run-id", "cref",
               "--models", spec, *base, *args)  # fmt: skip
    assert out.returncode == 0, out.stderr
    want, ref_keys = saved_state(tmp_path / "cref", "cref", None), set(starts(events(ev)))
    assert want["validation"]["rule"] == "confirmed"
    spec, ev = fake_spec(tmp_path, "ck")
    proc = launch("optimize", "--run-dir", str(tmp_path / "ck"), "--run-id", "ck",
                  "--models", spec, *base, *args)  # fmt: skip
    _kill_after(proc, ev, len(ref_keys) - 8, 0.075)
    state = saved_state(tmp_path / "ck", "ck", None)
    record = kill(proc, ev, state, None, writer=True, during="confirmation")
    v = state["validation"]
    assert v["top"]["source"] != "initial" and "rule" not in v  # stage A done, stage B not
    _resumes_as_unkilled(tmp_path / "ck", "ck", base, proc, ev, record, want, ref_keys)


def _resumes_as_unkilled(
    run_dir: Path,
    run_id: str,
    flags: list[str],
    proc: Any,
    ev: Path,
    record: dict[str, Any],
    want: dict[str, Any],
    ref_keys: set[str],
) -> None:
    """The killed run, resumed, ends as the unkilled one, repeating at most the calls that
    were in flight at the kill."""
    resumed = drpo("resume", run_id, "--run-dir", str(run_dir), *flags)
    assert resumed.returncode == 0, resumed.stderr
    got = saved_state(run_dir, run_id, None)
    for key in (*SAME, "validation"):
        assert got[key] == want[key], key
    rows = events(ev)
    assert set(starts(rows)) == ref_keys
    [again] = repeats(rows, sorted({r["pid"] for r in rows}, key=lambda p: p != proc.pid),
                      [proc.pid])  # fmt: skip
    assert again <= record["in_flight"]


RACE = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "-K", "1", "--seeds", "40",
        "--validation", "8", "--confirm", "24", "--judge-node",
        "tests.custom_judge:noisy_tips_judge", "--llm-cache", "off"]  # fmt: skip


@pytest.fixture(scope="module")
def race_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], set[str]]:
    """A race of 2 rungs and a sequential test of 2+ looks (the judge calls no model)."""
    tmp = tmp_path_factory.mktemp("race")
    spec, ev = fake_spec(tmp, "rref")
    out = drpo("optimize", "--run-dir", str(tmp / "rref"), "--run-id", "rref", "--models", spec,
               *RACE)  # fmt: skip
    assert out.returncode == 0, out.stderr
    want = saved_state(tmp / "rref", "rref", None)
    v = want["validation"]
    assert len(v["rungs"]) >= 2 and len(v["confirmation"]["looks"]) >= 2
    return want, set(starts(events(ev)))


@pytest.mark.parametrize("during", ["race rung", "sequential look"])
def test_sigkill_during_a_race_rung_or_a_look_repeats_at_most_the_calls_in_flight(
    tmp_path: Path, during: str, race_reference: tuple[dict[str, Any], set[str]]
) -> None:
    """Killed in the race's second rung, or in the sequential test's second look: the resumed run
    repeats at most the calls in flight and ends as the unkilled one (same rungs, looks, P*)."""
    want, ref_keys = race_reference
    v, c = want["validation"], want["validation"]["confirmation"]
    raced = sum(len(x["rewards"]) for x in v["candidates"])  # answers; one selection per query
    selection = raced + len(v["queries"])
    search = len(ref_keys) - selection - 3 * len(c["queries"])
    first_rung = 2 + 2 * len(v["candidates"])  # its 2 selections, every candidate's answers
    at = search + (first_rung if during == "race rung" else selection + 3 * 8) + 1
    spec, ev = fake_spec(tmp_path, "rk")
    proc = launch("optimize", "--run-dir", str(tmp_path / "rk"), "--run-id", "rk",
                  "--models", spec, *RACE)  # fmt: skip
    _kill_after(proc, ev, at, 0.075)
    state = saved_state(tmp_path / "rk", "rk", None)
    record = kill(proc, ev, state, None, writer=True, during=during)
    if during == "race rung":
        assert state["validation"] is None  # the race is under way
    else:
        assert state["validation"]["confirmation"] is None and "rule" not in state["validation"]
    _resumes_as_unkilled(tmp_path / "rk", "rk", ["--llm-cache", "off"], proc, ev, record, want,
                         ref_keys)  # fmt: skip

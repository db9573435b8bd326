"""Crash soak: SIGKILL real `drpo` processes (fake model, LLM-call cache off) at random moments,
resume each time, and check every finished run against an uninterrupted one.

A kill lands after a random number (1..6) of newly finished model calls plus a random fraction
of a call (calls in flight, in any node of either stage), or, in a resume, at a random moment
of its start-up. Some kills land while a second `drpo resume --wait` waits on the run's lock
(it then takes over), some kill that waiting process itself; a plain `drpo resume` started while
the run is written must be refused (exit 2, naming the writer's pid). Checked for each run:
the summary equals the reference exactly (calls per role included), the distinct calls made are
exactly the reference's, and for each kill the calls started again by the next writer are at
most the calls in flight at the kill (tests/support/kills.py); killing a waiting process changes
nothing.

`python -m benchmarks.crash_soak` runs long soaks; tests/integration/test_postgres.py a short
one on both checkpointers.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from tests.support.kills import (
    ARGS,
    check_kills,
    drpo,
    events,
    fake_spec,
    kill,
    launch,
    roles,
    saved_state,
    starts,
    wait_for,
)
from tests.support.writers import holds_lock, park_waiter, probe_refused

COMPARED = ("best_system_prompt", "best_reward", "icl_examples", "levels", "calls", "seed_order")
LATENCY_MS = 150
# how often: a waiting `resume --wait` at a kill, that waiter killed too, a plain `resume`
# probed while the run is written, a kill during a resume's start-up
ODDS = {"waiter": 0.35, "kill_waiter": 0.3, "probe": 0.3, "startup": 0.25}


FORK = ["fork", "parent", "--level", "1"]  # --fork: every soaked run is a fork of one parent


def make_parent(work: Path, store: list[str]) -> Path:
    """An uninterrupted run to fork (--fork); each soaked fork gets a copy of its run dir."""
    template = work / "parent"
    out = drpo("optimize", "--run-dir", str(template), "--run-id", "parent", "--models", "fake",
               "--llm-cache", "off", *ARGS, *store)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"parent run failed: {out.stderr.strip()[-500:]}")
    return template


def own_calls(state: dict[str, Any], inherited: dict[str, int]) -> dict[str, Any]:
    """A fork's state with the calls it inherited from its parent's levels taken out."""
    calls = {k: v - inherited.get(k, 0) for k, v in state["calls"].items()}
    return {**state, "calls": {k: v for k, v in calls.items() if v}}


def start_args(run_id: str, spec: str, fork: bool) -> list[str]:
    if fork:
        return [*FORK, "--run-id", run_id, "--models", spec]
    return ["optimize", "--run-id", run_id, "--models", spec, *ARGS]


def reference(
    work: Path, store: list[str], warm: bool, parent: Path | None = None
) -> tuple[dict[str, Any], set[str], Any]:
    """An uninterrupted run (cache off): its summary, its calls, their kinds. ``warm``: run it
    twice in one run dir and keep the second (a shared PostgreSQL store serves the aspect
    selections of earlier runs, as it will to the soak's runs)."""
    run_dir = work / "ref"
    if parent is not None:
        shutil.copytree(parent, run_dir)
    for i in range(2 if warm else 1):
        spec, ev = fake_spec(work, f"ref{i}", LATENCY_MS)
        run_id = f"ref{i}-{os.getpid()}-{time.time_ns()}"
        base = ["--run-dir", str(run_dir), *store] + ([] if parent else ["--llm-cache", "off"])
        out = drpo(*start_args(run_id, spec, parent is not None), *base)
        if out.returncode != 0:
            raise RuntimeError(f"reference run failed: {out.stderr.strip()[-500:]}")
    rows = events(ev)
    keys = set(starts(rows))
    return saved_state(run_dir, run_id, _url(store)), keys, roles(rows, keys)


def _url(store: list[str]) -> str | None:
    return store[1] if store else None


def killed_run(
    work: Path,
    run_id: str,
    kills_left: int,
    rng: random.Random,
    store: list[str],
    odds: dict[str, float],
    parent: Path | None = None,
) -> dict[str, Any]:
    """One run (a fork of ``parent``'s run dir copy), killed up to ``kills_left`` times and
    resumed until it finishes."""
    spec, ev = fake_spec(work, run_id, LATENCY_MS)
    run_dir, url = work / run_id, _url(store)  # its own run dir and (SQLite) aspect store
    inherited: dict[str, int] = {}
    if parent is not None:
        shutil.copytree(parent, run_dir)
        inherited = saved_state(run_dir, "parent", url)["calls"]
    base = ["--run-dir", str(run_dir), "--llm-cache", "off", *store]
    log, lock = work / f"{run_id}.stderr", run_dir / run_id / "writer.lock"
    made = run_dir / run_id / "run.json"
    first = start_args(run_id, spec, parent is not None)
    start = [*first, *(base if parent is None else ["--run-dir", str(run_dir), *store])]
    proc = launch(*start, stderr=log)
    writers, during = [proc.pid], "fork" if parent else "optimize"
    records: list[dict[str, Any]] = []
    probes: list[bool | None] = []
    while len(records) < kills_left:
        waiter = None
        if during == "resume" and rng.random() < odds["startup"]:
            time.sleep(rng.uniform(0, 3.0))  # somewhere in its start-up or first calls
        else:
            wait_for(  # a new run takes the lock, then writes its run.json
                lambda p=proc: (holds_lock(lock, p.pid) and made.exists()) or p.poll() is not None,
                120,
                "the lock",
            )
            # the writer pauses (SIGSTOP, its lock held) while a refused probe and a waiter
            # start: on a loaded machine their start-up outlasted its run (62 runs for 3 kills)
            paused = proc.poll() is None
            if paused:
                os.kill(proc.pid, signal.SIGSTOP)
            try:
                if paused and rng.random() < odds["probe"]:
                    probes.append(probe_refused(proc, run_dir, run_id, store))
                if paused and rng.random() < odds["waiter"]:
                    waiter = park_waiter(log, proc, ["resume", run_id, *base])
            finally:
                if paused:  # (it may have ended just before the SIGSTOP, and been reaped since)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.pid, signal.SIGCONT)
            target = len(starts(events(ev))) + rng.randint(1, 6)
            wait_for(lambda p=proc, t=target: len(starts(events(ev))) >= t or p.poll() is not None,
                     120, f"{run_id}: calls")  # fmt: skip
            time.sleep(rng.uniform(0, LATENCY_MS / 1000))  # mid-call: others are in flight
        if proc.poll() is not None:  # finished before the kill
            if waiter is not None:
                os.kill(waiter.pid, signal.SIGCONT)
                waiter.wait(300)
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = own_calls(saved_state(run_dir, run_id, url), inherited)
        records.append(kill(proc, ev, state, None, writer=True, during=during))
        records[-1]["while_waiting"] = waiter is not None
        during = "resume"
        if waiter is not None and len(records) < kills_left and rng.random() < odds["kill_waiter"]:
            waiter.send_signal(signal.SIGKILL)  # killed while it waits: nothing may change
            waiter.wait()
            after = own_calls(saved_state(run_dir, run_id, url), inherited)
            records.append(kill(waiter, ev, after, None, writer=False, during="waiting"))
            records[-1]["state_unchanged"] = after["calls"] == state["calls"]
            waiter = None
        if waiter is not None:
            os.kill(waiter.pid, signal.SIGCONT)  # it takes the lock over
            proc = waiter
        else:
            proc = launch("resume", run_id, *base, stderr=log)
        writers.append(proc.pid)
    if proc.wait(300) != 0:
        raise RuntimeError(f"{run_id}: drpo exited {proc.returncode}: {log.read_text()[-500:]}")
    rows = events(ev)
    problems = check_kills(rows, writers, records)
    problems += [f"killing waiting pid {r['pid']} changed the state" for r in records
                 if not r["writer"] and not r["state_unchanged"]]  # fmt: skip
    problems += ["a plain resume was not refused while the run was written"] * probes.count(False)
    all_starts = starts(rows)
    return {
        "run_id": run_id,
        "kills": len(records),
        "launches": len(writers),
        "records": records,
        "probes": [p for p in probes if p is not None],
        "calls_started": len(all_starts),
        "calls_repeated": len(all_starts) - len(set(all_starts)),
        "keys": set(all_starts),
        "summary": saved_state(run_dir, run_id, url),
        "problems": problems,
    }


def soak(
    work: Path,
    kills: int,
    seed: int,
    checkpointer: str | None = None,
    odds: dict[str, float] | None = None,
    fork: bool = False,
) -> dict[str, Any]:
    """Kill and resume runs until ``kills`` kills; every run must equal the reference.
    ``odds``: overrides of ODDS."""
    odds = {**ODDS, **(odds or {})}
    store = ["--checkpointer", checkpointer] if checkpointer else []
    work = work / f"soak-{time.time_ns()}"  # fresh: the fake model's logs and events append
    work.mkdir(parents=True)
    rng = random.Random(seed)
    started = time.monotonic()
    parent = make_parent(work, store) if fork else None
    want, ref_keys, ref_roles = reference(work, store, warm=bool(checkpointer), parent=parent)
    runs: list[dict[str, Any]] = []
    while sum(r["kills"] for r in runs) < kills:
        left = kills - sum(r["kills"] for r in runs)
        run_id = f"soak-{seed}-{len(runs)}-{time.time_ns()}"
        runs.append(killed_run(work, run_id, left, rng, store, odds, parent))
    mismatches = [
        {"run_id": r["run_id"], "key": key}
        for r in runs
        for key in COMPARED
        if r["summary"][key] != want[key]
    ] + [{"run_id": r["run_id"], "key": "distinct calls"} for r in runs if r["keys"] != ref_keys]
    records = [rec for r in runs for rec in r["records"]]
    writer_kills = [rec for rec in records if rec["writer"]]
    return {
        "kills": len(records),
        "kills_of_writers": len(writer_kills),
        "kills_during_resume": sum(rec["during"] == "resume" for rec in writer_kills),
        "kills_while_another_waits": sum(bool(rec.get("while_waiting")) for rec in records),
        "kills_of_waiting_processes": len(records) - len(writer_kills),
        "runs": len(runs),
        "launches": sum(r["launches"] for r in runs),
        "llm_cache": "off",
        "reference_calls": len(ref_keys),
        "reference_calls_per_role": ref_roles,
        "calls_started": [r["calls_started"] for r in runs],
        "calls_repeated": [r["calls_repeated"] for r in runs],
        "in_flight_at_kills": [rec["in_flight"] for rec in writer_kills],
        "started_again_after_kills": [rec["started_again"] for rec in writer_kills],
        "problems": [p for r in runs for p in r["problems"]],
        "refusals_checked": sum(len(r["probes"]) for r in runs),
        "refusals_ok": sum(sum(r["probes"]) for r in runs),
        "mismatches": mismatches,
        "odds": odds,
        "checkpointer": "postgres" if checkpointer else "sqlite",
        "forks": fork,
        "seconds": round(time.monotonic() - started, 1),
    }


def ok(result: dict[str, Any]) -> bool:
    return not result["mismatches"] and not result["problems"]

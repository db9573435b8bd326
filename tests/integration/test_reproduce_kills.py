"""`drpo reproduce TABLE` as a real process: SIGKILLed mid-way, then run again, it makes no call
that had finished; Ctrl-C stops every run, and the next invocation finishes the table."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.support.kills import done, drpo, events, fake_spec, launch, starts, wait_for
from tests.support.runs import REPRODUCE_SMALL as SMALL


def test_killed_mid_way_it_continues_without_repeating_a_finished_call(tmp_path: Path) -> None:
    # a real `drpo reproduce` process, SIGKILLed while the beam run (whose ICL set the others
    # wait for) is half done; run again, it resumes that run, runs the others and writes the
    # table. The fake model's events file names every call started and finished, per process.
    runs = tmp_path / "runs"
    spec, ev = fake_spec(tmp_path, "m", latency_ms=250)
    args = [
        "reproduce",
        "table4",
        "--models",
        spec,
        "--eval-judge",
        spec,
        "--allow-self-judge",
        "--run-dir",
        str(runs),
        *SMALL,
    ]
    first = launch(*args, stderr=tmp_path / "first.err")
    wait_for(lambda: len(done(events(ev))) >= 12 or first.poll() is not None, 240, "12 calls")
    time.sleep(0.12)  # past the call cache's write-behind (~20 ms); the next calls in flight
    assert first.poll() is None, "the command ended before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not (runs / "reproduce").exists()
    killed = events(ev)
    finished = set(done(killed))
    in_flight = set(starts(killed)) - finished
    again = drpo(*args)
    assert again.returncode == 0, again.stderr
    assert (runs / "reproduce" / "table4" / "table.md").exists()
    assert "Δ Avg." in again.stdout
    later = starts(events(ev), {p for p in {r["pid"] for r in events(ev)} if p != first.pid})
    assert later, "the second process made no call"
    assert not finished & set(later)  # no call that had finished before the kill is made again
    assert len(set(later) & set(starts(killed))) <= len(in_flight)
    assert (
        "table4-beam-" in again.stderr
        and "finished before" not in again.stderr.split("table4-beam-")[1].splitlines()[0]
    )


def test_ctrl_c_stops_every_run_and_the_next_invocation_finishes(tmp_path: Path) -> None:
    # table5 starts its two ICL runs together; SIGINT reaches the stop watcher of one of them
    # (the one installed last): the other is stopped through its STOP file, no run starts
    runs = tmp_path / "runs"
    spec, ev = fake_spec(tmp_path, "m", latency_ms=300)
    args = ["reproduce", "table5", "--models", spec, "--eval-judge", "fake", "--allow-self-judge",
            "--run-dir", str(runs), *SMALL]  # fmt: skip
    err = tmp_path / "first.err"
    first = launch(*args, stderr=err)
    wait_for(lambda: len(done(events(ev))) >= 8 or first.poll() is not None, 240, "8 calls")
    assert first.poll() is None, "the command ended before Ctrl-C"
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=120) == 4
    text = err.read_text()
    assert "stopped (SIGINT)" in text and "stopped (STOP file)" in text, text
    assert "created (static-" not in text  # the runs that wait on an ICL set never started
    assert not (runs / "reproduce").exists()
    again = drpo(*args)
    assert again.returncode == 0, again.stderr
    assert (runs / "reproduce" / "table5" / "table.md").exists()

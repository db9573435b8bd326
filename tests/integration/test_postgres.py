"""`--checkpointer postgresql://...`: LangGraph's PostgresSaver/PostgresStore on a real private
PostgreSQL cluster (scripts/postgres.sh; CI starts one and sets DRPO_TEST_PG_URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from drpo.cli.main import main
from tests.conftest import read_log
from tests.integration.conftest import fresh_database
from tests.support.kills import ARGS
from tests.support.runs import comparable
from tests.support.soak import soak

FOUR = ["--icl", "1", "--icl-D", "1", "-W", "2", "-M", "2", "-D", "2", "--seeds", "3", "-K", "1"]


def folded(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary to compare across runs that share one PostgreSQL aspect store: a selection
    that another run of the database made first is a cache hit here (by design)."""
    out = comparable(summary)
    calls = dict(out["calls"])
    calls["selector"] = calls.get("selector", 0) + calls.pop("selector_cache_hits", 0)
    return {**out, "calls": calls}


def _password(url: str) -> str:
    return str(urlsplit(url).password)


def _drpo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drpo.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )


def test_run_on_postgres_equals_sqlite_and_keeps_no_password(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--models", f"fake:log={tmp_path / 'pg.jsonl'}", *ARGS]
    run_id = f"pg-{os.getpid()}"
    assert main(["optimize", "--run-dir", str(tmp_path / "pg"), "--run-id", run_id,
                 "--checkpointer", pg_url, *common]) == 0  # fmt: skip
    assert main(["optimize", "--run-dir", str(tmp_path / "sq"), "--run-id", "sq", *common]) == 0
    capsys.readouterr()
    # the checkpoints are in PostgreSQL, not in the run dir; run.json has the URL, no password
    assert not (tmp_path / "pg" / run_id / "checkpoints.sqlite").exists()
    meta = json.loads((tmp_path / "pg" / run_id / "run.json").read_text())
    assert meta["checkpointer"] == pg_url.replace(f":{_password(pg_url)}@", "@")
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (run_id,)
        ).fetchone()
        assert rows is not None and rows[0] > 10
        types = {r[0] for r in conn.execute("SELECT DISTINCT type FROM checkpoint_blobs")}
        types |= {r[0] for r in conn.execute("SELECT DISTINCT type FROM checkpoint_writes")}
        assert "pickle" not in types and types <= {"msgpack", "null", "empty", "bytes"}, types
    # show reads the URL back from run.json; the password comes from PGPASSWORD
    monkeypatch.setenv("PGPASSWORD", _password(pg_url))
    assert main(["show", run_id, "--run-dir", str(tmp_path / "pg"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert main(["show", "sq", "--run-dir", str(tmp_path / "sq"), "--json"]) == 0
    want = json.loads(capsys.readouterr().out)
    for key in ("best_system_prompt", "best_reward", "icl_examples", "levels", "calls"):
        assert folded(got)[key] == folded(want)[key], key
    # a second run reads its aspect selections from the PostgreSQL store (JSONB): same search
    assert main(["optimize", "--run-dir", str(tmp_path / "pg"), "--run-id", f"{run_id}-2",
                 "--checkpointer", pg_url, *common]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["show", f"{run_id}-2", "--run-dir", str(tmp_path / "pg"), "--json"]) == 0
    cached = json.loads(capsys.readouterr().out)
    assert cached["calls"].get("selector_cache_hits", 0) > 0
    for key in ("best_system_prompt", "best_reward", "icl_examples", "levels"):
        assert comparable(cached)[key] == comparable(want)[key], key
    # the same run id again on the same database: refused, nothing changed
    again = ["optimize", "--run-dir", str(tmp_path / "other"), "--run-id", run_id]
    assert main([*again, "--checkpointer", pg_url, *common]) == 2
    assert f"run '{run_id}' already exists in postgresql://drpo@" in capsys.readouterr().err
    assert not (tmp_path / "other" / run_id).exists()


def test_unreachable_database_is_a_clear_error(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = pg_url.replace(_password(pg_url), "wrong-password")
    args = ["optimize", "--run-dir", str(tmp_path), "--run-id", "x", "--models", "fake", *ARGS]
    assert main([*args, "--checkpointer", bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("drpo: error: cannot connect to postgresql://drpo@127.0.0.1:")
    assert "wrong-password" not in err and len(err.strip().splitlines()) == 1
    assert main([*args, "--checkpointer", "mysql://x"]) == 2
    assert "expected postgresql://" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_crash_soak_short(tmp_path: Path, store: str, request: pytest.FixtureRequest) -> None:
    """The CI version of benchmarks/crash_soak.py (LLM cache off): three SIGKILLs at random
    moments; the result equals an uninterrupted run's and each kill repeats at most the calls
    in flight at it."""
    url = request.getfixturevalue("pg_url") if store == "postgres" else None
    # a second process waits on the lock at each kill after calls (on SQLite it is killed too
    # at times); a kill in a start-up has none
    odds = {"waiter": 1.0, "kill_waiter": 0.5 if store == "sqlite" else 0.0, "probe": 1.0}
    result = soak(tmp_path, kills=3, seed=7, checkpointer=url, odds=odds)
    assert result["kills"] == 3 and result["mismatches"] == [] and result["problems"] == [], result
    assert len(result["in_flight_at_kills"]) == result["kills_of_writers"] >= 1
    assert result["kills_while_another_waits"] >= 1  # (not at kills in a start-up)
    assert result["refusals_ok"] == result["refusals_checked"] >= 1
    assert all(
        again <= flight
        for again, flight in zip(
            result["started_again_after_kills"], result["in_flight_at_kills"], strict=True
        )
    )
    assert sum(result["calls_started"]) - sum(result["calls_repeated"]) == (
        result["runs"] * result["reference_calls"]
    )


@pytest.fixture()
def empty_db(pg_url: str) -> Iterator[str]:
    """A database nobody has set up yet (its own, dropped afterwards)."""
    name = f"drpo_empty_{os.getpid()}"
    yield fresh_database(pg_url, name)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def test_four_runs_at_once_on_one_database_stay_isolated(tmp_path: Path, empty_db: str) -> None:
    """Two configs x two runs each, all four at once on one database (and one store) that none
    has set up yet: the first runs' table setup must not deadlock (it did, with the setup lock
    taken by a waiting statement while the migrations built indexes CONCURRENTLY)."""
    pg_url = empty_db
    tag = f"iso-{os.getpid()}"
    procs = {}
    for i in range(4):
        run_id, seed = f"{tag}-{i}", str(i % 2)
        log = tmp_path / f"{run_id}.jsonl"
        args = ["optimize", "--run-dir", str(tmp_path / "runs"), "--run-id", run_id,
                "--checkpointer", pg_url, "--models", f"fake:latency_ms=20,log={log}",
                "--seed", seed, *FOUR]  # fmt: skip
        procs[run_id] = subprocess.Popen(
            [sys.executable, "-m", "drpo.cli", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    for run_id, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{run_id}: {err}"
    shows = {}
    for run_id in procs:
        out = _drpo("show", run_id, "--run-dir", str(tmp_path / "runs"), "--json",
                    "--checkpointer", pg_url)  # fmt: skip
        assert out.returncode == 0, out.stderr
        shows[run_id] = json.loads(out.stdout)
    a, b, c, d = (folded(shows[f"{tag}-{i}"]) for i in range(4))
    keys = ("best_system_prompt", "best_reward", "icl_examples", "levels", "calls")
    assert all(a[k] == c[k] and b[k] == d[k] for k in keys)  # same config, same result
    assert a["best_system_prompt"] != b["best_system_prompt"]  # another seed, another search
    for run_id in procs:  # each run's calls are its own: nothing leaked between threads
        assert sum(shows[run_id]["calls"].get(k, 0) for k in ("base", "judge", "optimizer")) == (
            sum(1 for r in read_log(tmp_path / f"{run_id}.jsonl") if r["kind"] != "select")
        )


def test_finished_run_without_its_checkpoints_is_not_restarted(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The thread deleted from PostgreSQL: show, export and resume say so (exit 2), nothing
    restarts it, and the read commands connect read-only."""
    run_id = f"gone-{os.getpid()}"
    args = ["--run-dir", str(tmp_path), "--checkpointer", pg_url]
    assert main(["optimize", "--run-id", run_id, "--models", "fake", *FOUR, *args]) == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for table in ("checkpoint_writes", "checkpoint_blobs", "checkpoints"):
            conn.execute(f"DELETE FROM {table} WHERE thread_id = %s", (run_id,))
    capsys.readouterr()
    before = sorted(p.name for p in (tmp_path / run_id).iterdir())
    for argv in (["show", run_id], ["export", run_id, "-o", str(tmp_path / "p.json")],
                 ["resume", run_id]):  # fmt: skip
        assert main([*argv, *args]) == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert f"holds no checkpoints of run '{run_id}', but result.json records" in line
        assert "postgresql://drpo@" in line and _password(pg_url) not in line
    assert sorted(p.name for p in (tmp_path / run_id).iterdir()) == before
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = %s", (run_id,))
        assert row.fetchone() == (0,)  # nothing restarted it

"""No pickle anywhere; an API key from the environment never lands in a checkpoint, the stores,
the call cache, a log, a report or a pack; servers bind 127.0.0.1 by default."""

from __future__ import annotations

import ast
import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from drpo.runtime.persistence import SERDE
from drpo.runtime.runner import Run
from tests.fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "shelve", "marshal"}
PICKLED_ONE = b"\x80\x04K\x01."  # what pickle.dumps(1) writes


def test_no_module_imports_pickle() -> None:
    found = []
    for folder in ("drpo", "graph", "nodes", "retrieval", "evals", "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                found += [f"{path}: {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES]
    assert not found


def test_checkpointer_serializer_never_pickles(tmp_path: Path) -> None:
    assert SERDE.pickle_fallback is False
    with pytest.raises(TypeError):  # msgpack cannot encode it, and there is no pickle fallback
        SERDE.dumps_typed(object())
    with pytest.raises(NotImplementedError):
        SERDE.loads_typed(("pickle", PICKLED_ONE))

    async def serde_in_use() -> object:
        run = Run(tmp_path, "r")
        run.dir.mkdir(parents=True)
        async with run.graph() as g:
            assert g.checkpointer is not None and not isinstance(g.checkpointer, bool)
            return g.checkpointer.serde

    serde = asyncio.run(serde_in_use())
    assert getattr(serde, "pickle_fallback", None) is False
    with pytest.raises(TypeError):
        serde.dumps_typed(object())  # type: ignore[attr-defined]


def _files_with(secret: bytes, root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


ARGS = ["--icl", "2", "--icl-D", "1", "-W", "2", "-M", "1", "-D", "1", "--seeds", "2", "-K", "1"]


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_api_key_never_stored(tmp_path: Path, store: str, request: pytest.FixtureRequest) -> None:
    key = f"sk-drpo-{secrets.token_hex(16)}"
    server = FaultServer(key=key, deadline_s=300).start()
    spec = f"openai-compatible:fake@{server.url}"
    run_id = f"sec-{store}-{os.getpid()}"
    extra = ["--checkpointer", request.getfixturevalue("pg_url")] if store == "postgres" else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DRPO_API_KEY": key}
    outputs = []
    try:
        for argv in (
            ["optimize", "--run-id", run_id, "--models", spec, *ARGS],
            ["show", run_id, "--json"],
            ["export", run_id, "-o", str(tmp_path / "pack.json")],
        ):
            out = subprocess.run(
                [sys.executable, "-m", "drpo.cli", *argv, "--run-dir", str(tmp_path), *extra],
                capture_output=True,
                text=True,
                timeout=300,
                env=env,
            )
            assert out.returncode == 0, out.stderr
            outputs += [out.stdout, out.stderr]
    finally:
        server.shutdown()
    assert server.stats["ok"] > 0 and server.stats["401"] == 0  # the key was used, and worked
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert "pack.json" in files and "run.json" in files
    assert ("checkpoints.sqlite" in files) == (store == "sqlite")
    assert "llm_cache.sqlite" in files  # the call cache (drpo/runtime/cache.py) is grepped too
    assert not _files_with(key.encode(), tmp_path), files
    assert not [o for o in outputs if key in o]
    if store == "postgres":
        with psycopg.connect(request.getfixturevalue("pg_url")) as conn:
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "store"):
                rows = conn.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
                assert rows and key.encode() not in repr(rows).encode(), table


def test_servers_bind_loopback_by_default() -> None:
    server = FaultServer()
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()
    from drpo.cli import apps as cli_apps

    assert cli_apps.HOST == "127.0.0.1"  # drpo ui / drpo serve

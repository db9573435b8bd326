from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from langchain_openai.chat_models import _client_utils  # noqa: E402

from drpo.core.config import Context, RunConfig  # noqa: E402
from drpo.core.models import methods, registry  # noqa: E402
from drpo.runtime.runner import Run, execute, summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}  # for subprocesses


def listeners(port: int) -> set[str]:
    """The addresses a socket listens on at ``port`` (IPv4 and IPv6, any process)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                if width == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
                else:
                    found.add("::" if int(address, 16) == 0 else f"ipv6:{address}")
    return found


def fresh_clients() -> None:
    """Model clients are cached per spec, and langchain-openai caches its httpx clients per
    process; each asyncio.run (one per CLI call here) needs new ones, as a new process would."""
    registry._MODELS.clear()
    _client_utils._cached_async_httpx_client.cache_clear()


def fresh_provider(
    monkeypatch: pytest.MonkeyPatch, timeout_s: str, openai_key: str | None = None
) -> Iterator[None]:
    """For an autouse fixture (``yield from``) of tests against a local OpenAI-like server: a
    client timeout of ``timeout_s``, no DRPO_API_KEY, OPENAI_API_KEY ``openai_key`` (or none),
    and new model clients, with no structured-output methods learned, before and after."""
    monkeypatch.setenv("DRPO_TIMEOUT_S", timeout_s)
    monkeypatch.delenv("DRPO_API_KEY", raising=False)
    if openai_key is None:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("OPENAI_API_KEY", openai_key)
    fresh_clients()
    methods.forget()
    yield
    fresh_clients()
    methods.forget()


def fake_spec(log: Path, **opts: Any) -> str:
    extra = "".join(f",{k}={v}" for k, v in opts.items())
    return f"fake:log={log}{extra}"


def fake_context(spec: str, **kw: Any) -> Context:
    return Context(
        base_model=kw.pop("base", spec),
        optimizer_model=spec,
        judge_model=spec,
        selector_model=kw.pop("selector", spec),
        **kw,
    )


# Searches for `drpo optimize` with the fake model. TINY: one example, one level per stage; hand
# count: stage 1 = 1 selection, 2 judgements, 1 transition (4 calls); stage-2 level 0 =
# selection, answer, judgement (7); level 1 adds selection, transition, ... (>= 8): STOP_AT.
TINY = ["--icl", "1", "--icl-D", "1", "-W", "1", "-M", "1", "-D", "1", "--seeds", "2", "-K", "1"]
STOP_AT = 8
SMALL = ["--icl", "2", "--icl-D", "1", "-W", "2", "-M", "2", "-D", "2", "--seeds", "3", "-K", "1"]


def small_config(**sp: Any) -> dict[str, Any]:
    return {
        "icl": {"n": 2, "D": 2},
        "system_prompt": {"W": 2, "M": 2, "D": 3, "K": 2, "seeds": 6, **sp},
    }


def run_once(
    run_dir: Path, run_id: str, context: Context, config: dict[str, Any]
) -> dict[str, Any]:
    run = Run(run_dir, run_id)
    run.create(RunConfig.model_validate(config), context)
    return asyncio.run(execute(run, resume=False, progress=lambda _line: None))


def read_log(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def show(run_dir: Path, run_id: str) -> dict[str, Any]:
    return asyncio.run(summary(Run(run_dir, run_id)))


@pytest.fixture()
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "calls.jsonl"


# Property tests record how many generated examples reached each of their assertions
# (tests/properties.py: floor); the counts are printed at the end of the session.
REACHED: dict[str, dict[str, int]] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REACHED:
        terminalreporter.section("property tests: generated examples reaching their assertions")
        for name, counts in sorted(REACHED.items()):
            rows = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            terminalreporter.write_line(f"{name}: {rows}")

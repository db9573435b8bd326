"""Servers run as child processes, shared by the benchmarks and the tests: a free loopback port,
the llama.cpp server's command line, waiting until a server answers, stopping a process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def llama_cpp_server(model: str, port: int, n_ctx: int = 4096) -> list[str]:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1:``port``, with as many threads
    as the in-process model (the server defaults to cpu_count // 2)."""
    return [
        sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(os.cpu_count() or 1),
    ]  # fmt: skip


def wait_until_up(
    url: str, proc: subprocess.Popen[Any], timeout: float, what: str, log: Path | None = None
) -> None:
    """Poll ``url`` until it answers. Raises if ``proc`` exits first (with its piped stderr or the
    tail of ``log``) or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{what} exited with code {proc.returncode}: {_output(proc, log)}"
                ) from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not start in {timeout:g} s") from None
            time.sleep(0.1)


def _output(proc: subprocess.Popen[Any], log: Path | None) -> str:
    if log is not None:
        return log.read_text(errors="replace")[-2000:]
    out = proc.stderr.read() if proc.stderr else ""
    return out.decode(errors="replace") if isinstance(out, bytes) else str(out)


def stop(proc: subprocess.Popen[Any], timeout: float = 10, sig: int = signal.SIGTERM) -> None:
    """Signal ``proc`` (SIGTERM), wait up to ``timeout`` seconds, then kill it."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

"""Servers run as child processes, shared by the tests and the benchmarks: a free loopback port,
the llama.cpp server's command line, waiting until a server answers, pausing and stopping a
process, the addresses a port is listened on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def llama_threads() -> int:
    """Threads for a llama.cpp model: every core (as the in-process model has), but one while
    pytest-xdist runs other tests beside it: llama.cpp's threads wait for each other at every
    token, so one core taken by another process stalls them all (a run takes several times as
    long as with one thread)."""
    beside = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1
    return 1 if beside else os.cpu_count() or 1


def llama_cpp_server(model: str, port: int, n_ctx: int = 4096) -> list[str]:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1:``port``, with llama_threads()
    threads (the server defaults to cpu_count // 2)."""
    return [
        sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(llama_threads()),
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


@contextmanager
def paused(proc: subprocess.Popen[Any]) -> Iterator[None]:
    """``proc`` stopped (SIGSTOP) for the block, holding what it holds (a run's lock, a run not
    yet finished) while the slower steps of a test start: on a loaded machine a new process can
    take longer to start than a short run takes to end. It goes on (SIGCONT) after the block."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)


def stop(proc: subprocess.Popen[Any], timeout: float = 10, sig: int = signal.SIGTERM) -> None:
    """Signal ``proc`` (SIGTERM), wait up to ``timeout`` seconds, then kill it."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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

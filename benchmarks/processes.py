"""Servers run as child processes: the tests' helpers (tests/support/processes.py), which the
benchmarks share."""

from tests.support.processes import free_port, llama_cpp_server, stop, wait_until_up

__all__ = ["free_port", "llama_cpp_server", "stop", "wait_until_up"]

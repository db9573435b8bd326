"""Helpers shared by the tests (and the benchmarks, which import them from here): `drpo optimize`
runs in this process (runs.py), digests of folders (files.py), servers as child processes
(processes.py), killing and resuming real `drpo` processes (kills.py, writers.py, soak.py)."""

"""Helpers shared by the tests (and the benchmarks, which import them from here): `drpo optimize`
runs in this process (runs.py), model clients made afresh (providers.py), digests of folders
(files.py), servers as child processes (processes.py), killing and resuming real `drpo`
processes and the crash soak (kills.py, writers.py, soak.py), and the distributions a wheel
declares (dists.py)."""

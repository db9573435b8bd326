"""Run the benchmarks: ``python -m benchmarks [NAME ...]`` (default: all six, in order).

Each prints its figures and writes ``benchmarks/results/NAME.json``. ``embedded`` runs the real
local model and the README demo (minutes on 2 cores); ``selection_noise`` the simulated world
of drpo/llm/backends/sim.py; the others the fake model.
"""

from __future__ import annotations

import importlib
import sys

NAMES = (
    "speedup", "overhead", "resume_waste", "retrieval", "embedded", "selection_noise",
    "selection_cost",
)  # fmt: skip


def main(argv: list[str]) -> int:
    names = argv or list(NAMES)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {NAMES}", file=sys.stderr)
        return 2
    for name in names:
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Crash soak: SIGKILL real `drpo` processes (fake model, LLM-call cache off) at random moments,
resume each time, and check every finished run against an uninterrupted one.

A kill lands after a random number (1..6) of newly finished model calls plus a random fraction
of a call (calls in flight, in any node of either stage), or, in a resume, at a random moment
of its start-up. Some kills land while a second `drpo resume --wait` waits on the run's lock
(it then takes over), some kill that waiting process itself; a plain `drpo resume` started while
the run is written must be refused (exit 2, naming the writer's pid). Checked for each run:
the summary equals the reference exactly (calls per role included), the distinct calls made are
exactly the reference's, and for each kill the calls started again by the next writer are at
most the calls in flight at the kill (tests/support/kills.py); killing a waiting process changes
nothing.

    python -m benchmarks.crash_soak --kills 100 [--checkpointer postgresql://...] [--seed 1]
    python -m benchmarks.crash_soak --kills 20 --fork   # every run a `drpo fork` at level 1

writes benchmarks/results/crash_soak[_postgres].json (the lead runs the 100-kill version). The
soak itself is tests/support/soak.py; tests/integration/test_postgres.py runs a short version on
both checkpointers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tests.support.soak import ok, soak


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--checkpointer", help="postgresql://... (default: SQLite)")
    p.add_argument(
        "--work", type=Path, default=Path("runs/crash_soak"), help="each soak: a new folder in it"
    )
    p.add_argument("--out", type=Path, help="result JSON (default benchmarks/results/...)")
    p.add_argument("--fork", action="store_true", help="every soaked run is a `drpo fork`")
    args = p.parse_args()
    flags = (" --checkpointer postgresql://..." if args.checkpointer else "") + (
        " --fork" if args.fork else ""
    )
    command = f"python -m benchmarks.crash_soak --kills {args.kills} --seed {args.seed}{flags}"
    result = {
        "command": command,
        **soak(args.work, args.kills, args.seed, args.checkpointer, fork=args.fork),
    }
    result["ok"] = ok(result)
    print(json.dumps(result, indent=2))
    name = ("crash_soak_postgres" if args.checkpointer else "crash_soak") + (
        "_fork" if args.fork else ""
    )
    out = args.out or Path(__file__).parent / "results" / f"{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    raise SystemExit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()

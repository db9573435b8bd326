"""Crash soak from the command line: SIGKILL real `drpo` processes at random moments, resume,
and check every run against an uninterrupted one (what is killed and checked:
tests/support/soak.py, which tests/integration/test_postgres.py also runs briefly).

    python -m benchmarks.crash_soak --kills 100 [--checkpointer postgresql://...] [--seed 1]
    python -m benchmarks.crash_soak --kills 20 --fork   # every run a `drpo fork` at level 1

writes benchmarks/results/crash_soak[_postgres].json.
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

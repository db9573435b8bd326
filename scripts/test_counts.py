"""The test counts in docs/testing.md, taken from the suite: collect the tests (pytest
--collect-only) and rewrite the counts of the table's rows (`--check`: change nothing, exit 1 and
say which row is stale). tests/unit/test_doc_counts.py runs the check.

    python scripts/test_counts.py [--check] [--doc docs/testing.md]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "testing.md"
# a table row of the doc, by the command in its first cell: the folder whose tests it counts
ROWS = {"`bash scripts/test.sh --fast`": "tests/unit", "`bash scripts/test.sh`": "tests"}
ROW = re.compile(r"^\| (?P<what>`[^`]+`)(?P<rest>[^|]*)\| (?P<count>\d+) \|", re.M)


def collect() -> dict[str, int]:
    """How many tests each folder of ROWS holds, from one collection of tests/."""
    cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    out = subprocess.run([*cmd, "tests"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"pytest could not collect the tests:\n{out.stdout[-3000:]}{out.stderr}")
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    return {folder: sum(i.startswith(f"{folder}/") for i in ids) for folder in ROWS.values()}


def rewrite(
    text: str, counts: dict[str, int], rows: dict[str, str] = ROWS
) -> tuple[str, list[str]]:
    """``text`` with the count of each row of ``rows`` replaced by the collected one; the rows
    that changed."""
    stale: list[str] = []
    found: set[str] = set()

    def row(m: re.Match[str]) -> str:
        if m["what"] not in rows:
            return m[0]
        found.add(m["what"])
        want = counts[rows[m["what"]]]
        if int(m["count"]) != want:
            stale.append(f"{m['what']}: the doc says {m['count']} tests, the suite has {want}")
        return f"| {m['what']}{m['rest']}| {want} |"

    new = ROW.sub(row, text)
    stale += [f"{what}: no row in the table" for what in rows if what not in found]
    return new, stale


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only check, exit 1 when stale")
    p.add_argument("--doc", type=Path, default=DOC)
    args = p.parse_args()
    text = args.doc.read_text()
    new, stale = rewrite(text, collect())
    for line in stale:
        print(f"{args.doc}: {line}")
    if args.check:
        return 1 if stale else 0
    if new != text:
        args.doc.write_text(new)
    return 1 if any(line.endswith("no row in the table") for line in stale) else 0


if __name__ == "__main__":
    raise SystemExit(main())

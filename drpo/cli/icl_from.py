"""--icl-from RUN|PACK: the optimized ICL set a new run reuses (stage 1 is skipped); read by
`drpo optimize` and by its dry run (drpo/cli/budget.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drpo.runtime.runner import Run, RunError, summary


async def resolve_icl_from(value: str, run_dir: Path) -> dict[str, Any]:
    """--icl-from RUN|PACK: the optimized ICL examples of a run (its stage 1 finished) or of an
    alignment pack, with where they came from."""
    path = Path(value)
    if path.suffix == ".json" or path.is_file():
        try:
            pack = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunError(f"--icl-from {value}: cannot read the pack ({exc})") from exc
        examples = pack.get("icl_examples") if isinstance(pack, dict) else None
        source = {"pack": str(path)}
    else:
        run = Run(run_dir, value)
        run.load()
        examples = (await summary(run))["icl_examples"]
        source = {"run_id": run.id}
    if not examples or not all(
        isinstance(e, dict)
        and isinstance(e.get("query"), str)
        and isinstance(e.get("response"), str)
        for e in examples
    ):
        raise RunError(f"--icl-from {value}: no optimized ICL examples there")
    return {
        **source,
        "examples": [{"query": e["query"], "response": e["response"]} for e in examples],
    }

"""just-eval-instruct items, its judge templates, URIAL prompts and upstream DRPO prompts.

Vendored in drpo/core/resources/ (see its NOTICE): the 100-item dev subset, the benchmark's two
judge templates, URIAL's prompts and the upstream optimized system prompts. The full 1000-item set
is read from a local JSONL file of the same shape, or from the HF dataset when a hub is reachable.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template
from typing import Any, Literal

from typing_extensions import TypedDict

from drpo.core.data import RESOURCES, DataError
from drpo.core.messages import ICLExample

DATA = RESOURCES
DEV_PATH = DATA / "just-eval" / "dev.jsonl"
HF_DATASET = "re-align/just-eval-instruct"
REGULAR_ASPECTS = ("helpfulness", "clarity", "factuality", "depth", "engagement")
SAFETY_ASPECTS = ("safety",)
# The benchmark's reporting convention (shared README): system message of the judge.
JUDGE_SYSTEM = "You are an AI assistant that helps people find information."

Category = Literal["regular", "safety"]


class Item(TypedDict):
    id: int
    instruction: str
    category: Category
    dataset: str
    task: list[str]
    topic: list[str]
    difficulty: str | None


def _item(row: Any, where: str) -> Item:
    if not isinstance(row, dict) or not isinstance(row.get("instruction"), str):
        raise DataError(f"{where}: expected an object with 'id' and 'instruction'")
    try:
        item_id = int(row["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: missing or non-integer 'id'") from exc
    raw = row.get("category") or ("regular" if item_id < 800 else "safety")
    if raw not in ("regular", "safety"):
        raise DataError(f"{where}: category must be regular or safety, got {raw!r}")
    category: Category = "regular" if raw == "regular" else "safety"
    return {
        "id": item_id,
        "instruction": row["instruction"],
        "category": category,
        "dataset": str(row.get("dataset") or ""),
        "task": list(row.get("task") or []),
        "topic": list(row.get("topic") or []),
        "difficulty": row.get("difficulty"),
    }


def _read_jsonl(path: Path) -> list[Item]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read benchmark file {path}: {exc.strerror or exc}") from exc
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{n}: not JSON ({exc.msg})") from exc
        items.append(_item(row, f"{path}:{n}"))
    return items


def _from_hub() -> list[Item]:
    """The full benchmark from the HF hub (needs network; offline it is a clear error)."""
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(HF_DATASET, repo_type="dataset"))
    except Exception as exc:  # any hub/network failure becomes one clear line
        raise DataError(
            f"cannot fetch {HF_DATASET} from the hub ({type(exc).__name__}); "
            "pass a local JSONL path with --data instead"
        ) from exc
    files = sorted(folder.rglob("*.jsonl"))
    if not files:
        raise DataError(f"no .jsonl file in the {HF_DATASET} snapshot at {folder}")
    return [item for f in files for item in _read_jsonl(f)]


def load_items(
    source: str | None = None, limit: int | None = None, ids: list[int] | None = None
) -> list[Item]:
    """Benchmark items: `dev` (default, vendored), `hf` (the hub) or a local JSONL path."""
    if source in (None, "dev"):
        items = _read_jsonl(DEV_PATH)
    elif source == "hf":
        items = _from_hub()
    else:
        items = _read_jsonl(Path(source))
    if ids is not None:
        wanted = set(ids)
        items = [i for i in items if i["id"] in wanted]
    items = sorted(items, key=lambda i: i["id"])
    if len({i["id"] for i in items}) != len(items):
        raise DataError("benchmark items must have unique ids")
    return items[:limit] if limit is not None else items


def judge_template(category: Category) -> Template:
    name = "MULTI_SCORE_TEMPLATE.txt" if category == "regular" else "SAFETY_SCORE_TEMPLATE.txt"
    return Template((DATA / "just-eval" / name).read_text(encoding="utf-8"))


def aspects_of(category: Category) -> tuple[str, ...]:
    return REGULAR_ASPECTS if category == "regular" else SAFETY_ASPECTS


def judge_prompt(category: Category, instruction: str, candidate: str) -> str:
    return judge_template(category).substitute(instruction=instruction, candidate=candidate)


_URIAL_PAIR = re.compile(r"# Query:\s*```\s*(.*?)\s*```\s*# Answer:\s*```\s*(.*?)\s*```", re.S)


def load_urial(name: str = "inst_1k_v4") -> tuple[str, list[ICLExample]]:
    """URIAL's instruction (the system prompt) and its K query/answer examples."""
    path = DATA / "urial" / f"{name}.txt"
    if not path.is_file():
        found = sorted(p.stem for p in (DATA / "urial").glob("*.txt"))
        raise DataError(f"unknown URIAL prompt {name!r}; choose one of {found}")
    text = path.read_text(encoding="utf-8")
    head = text.split("# Query:", 1)[0]
    instruction = head.replace("# Instruction", "", 1).strip()
    examples = [ICLExample(query=q, response=a) for q, a in _URIAL_PAIR.findall(text)]
    return instruction, examples


def upstream_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".optimized_prompt.txt")
        for p in (DATA / "upstream").glob("*.optimized_prompt.txt")
    )


def load_upstream_prompt(name: str) -> str:
    path = DATA / "upstream" / f"{name}.optimized_prompt.txt"
    if not path.is_file():
        raise DataError(f"unknown upstream prompt {name!r}; choose one of {upstream_names()}")
    return path.read_text(encoding="utf-8").strip()

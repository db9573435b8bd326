"""docs/testing.md's test counts are the suite's (scripts/test_counts.py collects and rewrites
them): a test added or removed without `python scripts/test_counts.py` fails here.

The counts come from this session's own collection (tests/conftest.py records it before -k, -m
or --deselect leave tests out) for each row whose folder the session collected whole: the full
suite checks both rows, `--fast` the tests/unit row. A session that holds neither folder whole
(one file, say) collects the suite in a subprocess, as the script does."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from tests.conftest import COLLECTED, ROOT


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("test_counts", ROOT / "scripts/test_counts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _whole(config: pytest.Config, folders: list[str]) -> list[str]:
    """The folders among ``folders`` that this session collected whole: one of its arguments
    is the folder or a folder above it."""
    args = [(config.invocation_params.dir / a).resolve() for a in config.args if "::" not in a]
    return [f for f in folders if any((ROOT / f).resolve().is_relative_to(a) for a in args)]


def test_the_counts_in_docs_testing_md_are_the_collected_ones(
    request: pytest.FixtureRequest,
) -> None:
    script = _script()
    whole = _whole(request.config, list(script.ROWS.values()))
    if whole:
        ids = request.config.stash[COLLECTED]
        counts = {folder: sum(i.startswith(f"{folder}/") for i in ids) for folder in whole}
    else:
        counts = script.collect()
    assert counts["tests/unit"] > 0
    assert counts.get("tests", counts["tests/unit"] + 1) > counts["tests/unit"]
    rows = {what: folder for what, folder in script.ROWS.items() if folder in counts}
    text = script.DOC.read_text()
    new, stale = script.rewrite(text, counts, rows)
    assert stale == [], "run `python scripts/test_counts.py`: " + "; ".join(stale)
    assert new == text
    # one test more than the doc says is caught, and the rewrite puts the right count back
    more = {**counts, "tests/unit": counts["tests/unit"] + 1}
    changed, stale = script.rewrite(text, more, rows)
    assert stale == [
        f"`bash scripts/test.sh --fast`: the doc says {counts['tests/unit']} tests, "
        f"the suite has {counts['tests/unit'] + 1}"
    ]
    assert script.rewrite(changed, counts, rows)[0] == text
    # a table without the rows is caught too
    assert len(script.rewrite("no table", counts, rows)[1]) == len(rows)

"""docs/testing.md's test counts are the suite's (scripts/test_counts.py collects and rewrites
them): a test added or removed without `python scripts/test_counts.py` fails here."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from tests.conftest import ROOT


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("test_counts", ROOT / "scripts/test_counts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_counts_in_docs_testing_md_are_the_collected_ones(tmp_path: Path) -> None:
    script = _script()
    counts = script.collect()
    assert counts["tests"] > counts["tests/unit"] > 0
    text = script.DOC.read_text()
    new, stale = script.rewrite(text, counts)
    assert stale == [], "run `python scripts/test_counts.py`: " + "; ".join(stale)
    assert new == text
    # one test more than the doc says is caught, and the rewrite puts the right count back
    more = {**counts, "tests/unit": counts["tests/unit"] + 1}
    changed, stale = script.rewrite(text, more)
    assert stale == [
        f"`bash scripts/test.sh --fast`: the doc says {counts['tests/unit']} tests, "
        f"the suite has {counts['tests/unit'] + 1}"
    ]
    assert script.rewrite(changed, counts)[0] == text
    # a table without the rows is caught too
    assert len(script.rewrite("no table", counts)[1]) == 2

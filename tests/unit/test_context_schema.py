"""The Context documents itself: langgraph dev's assistant schema and `drpo optimize --help`."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields

from drpo.core.context import Context, described
from graph import graph
from tests.conftest import ENV

# Context fields that `drpo optimize` sets from a flag of its own
FLAGS = {
    "base_model": "--base",
    "optimizer_model": "--optimizer",
    "judge_model": "--judge",
    "selector_model": "--selector",
    "judge_node": "--judge-node",
    "approve": "--approve",
    "llm_cache": "--llm-cache",
    "max_calls": "--max-calls",
    "max_tokens": "--max-tokens",
    "max_usd": "--max-usd",
    "max_concurrency": "--max-concurrency",
    "requests_per_second": "--rps",
}


def test_every_context_field_is_described_in_the_assistant_schema() -> None:
    schema = graph.get_context_jsonschema()
    assert schema is not None
    props = schema["properties"]
    assert set(props) == {f.name for f in fields(Context)}
    for f in fields(Context):
        text = f.metadata.get("description", "")
        assert len(text.split()) >= 4, f"{f.name}: no description"
        assert props[f.name]["description"] == text


def test_optimize_help_shows_the_descriptions() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "drpo.cli", "optimize", "--help"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    ).stdout
    text = " ".join(out.split())  # argparse wraps help lines
    for name, flag in FLAGS.items():
        shown = re.escape(flag) + r"(?: [A-Z_=/]+)? " + re.escape(described(name))
        assert re.search(shown, text), (flag, described(name))

"""Argument checks shared by the subcommands: no empty values, safe new run ids, the swappable
steps (judge node, ICL retriever)."""

from __future__ import annotations

import argparse
from typing import Any

from drpo.core.context import described
from drpo.core.limits import LimitError, check_run_id
from drpo.llm.judges import resolve_judge
from retrieval import resolve_retriever


class NonEmptyParser(argparse.ArgumentParser):
    """An empty value is an error, never the default (``--models ""`` is not "local")."""

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        if action.nargs not in (argparse.PARSER, argparse.REMAINDER) and "" in arg_strings:
            name = "/".join(action.option_strings) or action.metavar or action.dest
            self.error(f"argument {name}: must not be empty")
        return super()._get_values(action, arg_strings)


def run_id_arg(text: str) -> str:
    """argparse ``type=`` of a new run's id (drpo/core/limits.py: check_run_id)."""
    try:
        return check_run_id(text)
    except LimitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_step_flags(parser: argparse.ArgumentParser) -> None:
    """``--judge-node`` and ``--retriever`` (optimize and fork)."""
    parser.add_argument("--judge-node", help=described("judge_node"))
    parser.add_argument("--retriever", help=described("retriever"))


def step_overrides(args: argparse.Namespace) -> dict[str, str | None]:
    """The steps the flags name (None: not given), each checked to resolve: an unknown name or
    a module that does not import is one line before anything runs."""
    if args.judge_node:
        resolve_judge(args.judge_node)
    if args.retriever:
        resolve_retriever(args.retriever)
    return {"judge_node": args.judge_node, "retriever": args.retriever}

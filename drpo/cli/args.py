"""Argument checks shared by the subcommands: no empty values, safe new run ids."""

from __future__ import annotations

import argparse
from typing import Any

from drpo.core.limits import LimitError, check_run_id


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

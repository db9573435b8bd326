"""Subcommands of the ecosystem: answer (approval gate), ui, serve, chat, graph."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from drpo.core.models.registry import parse_spec
from drpo.ui.mermaid import STAGES

HOST = "127.0.0.1"


def add_parsers(sub: Any) -> None:
    ans = sub.add_parser("answer", help="answer a run's pending approval and continue it")
    ans.add_argument("run_id")
    ans.add_argument("action", choices=["approve", "edit", "reject"])
    ans.add_argument("--text", help="the edited prompt (action edit)")
    ans.add_argument("--run-dir", type=Path, default=Path("runs"))
    ans.set_defaults(handler=_answer)

    ui = sub.add_parser("ui", help="the run inspector page for the runs of a run dir")
    ui.add_argument("--run-dir", type=Path, default=Path("runs"))
    ui.add_argument("--host", default=HOST)
    ui.add_argument("--port", type=int, default=8765)
    ui.set_defaults(handler=_ui)

    for name, text in (("serve", "an OpenAI-compatible server"), ("chat", "a terminal chat")):
        sp = sub.add_parser(name, help=f"{text} answering with an alignment pack")
        sp.add_argument("pack", type=Path)
        sp.add_argument("--base", required=True, help="model spec of the base model")
        if name == "serve":
            sp.add_argument("--host", default=HOST)
            sp.add_argument("--port", type=int, default=8000)
        sp.set_defaults(handler=_serve if name == "serve" else _chat)

    gr = sub.add_parser("graph", help="print the graph as mermaid text")
    gr.add_argument(
        "--stage", choices=STAGES, default="run", help="the run graph or a stage subgraph"
    )
    gr.set_defaults(handler=_graph)


async def _answer(args: argparse.Namespace) -> int:
    from langgraph.types import Command
    from pydantic import ValidationError

    from drpo.cli.main import _print_summary
    from drpo.cli.runs import RunFailed, unreadable
    from drpo.core.schemas import ApprovalAnswer
    from drpo.runtime.file_checks import StateFileError
    from drpo.runtime.runlock import RunLocked
    from drpo.runtime.runner import Run, RunError, execute, summary

    run = Run(args.run_dir, args.run_id)
    run.load()
    try:
        answer = ApprovalAnswer(action=args.action, text=args.text)
    except ValidationError as exc:
        raise RunError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from exc
    async with run.writer():  # one writer per run: a second answer is refused
        if not (await summary(run.reader()))["pending"]:
            raise RunError(f"run {run.id!r} has no pending approval")
        try:
            result = await execute(run, resume=True, command=Command(resume=answer.model_dump()))
        except (StateFileError, RunLocked):
            raise
        except Exception as exc:
            raise RunFailed(run, exc, await unreadable(run)) from exc
    _print_summary(result, as_json=False)
    return 0


def _uvicorn(app: Any, host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))


def _aligned(args: argparse.Namespace) -> Any:
    from drpo.serving.aligned import AlignedChatModel

    parse_spec(args.base)
    return AlignedChatModel.from_pack(args.pack, args.base)


async def _serve(args: argparse.Namespace) -> int:
    from drpo.serving.serve import create_app

    server = _uvicorn(create_app(_aligned(args)), args.host, args.port)
    print(f"serving {args.pack} on http://{args.host}:{args.port}/v1", file=sys.stderr, flush=True)
    await server.serve()
    return 0


async def _chat(args: argparse.Namespace) -> int:
    from drpo.serving.chat import chat_loop

    return await chat_loop(_aligned(args))


async def _ui(args: argparse.Namespace) -> int:
    from drpo.ui.app import create_app
    from drpo.ui.backends import LocalRuns

    if not args.run_dir.is_dir():
        raise ValueError(f"no run dir {args.run_dir}")
    server = _uvicorn(create_app(LocalRuns(args.run_dir)), args.host, args.port)
    print(f"inspector on http://{args.host}:{args.port}/ui", file=sys.stderr, flush=True)
    await server.serve()
    return 0


async def _graph(args: argparse.Namespace) -> int:
    from drpo.ui.mermaid import mermaid

    print(mermaid(args.stage))
    return 0

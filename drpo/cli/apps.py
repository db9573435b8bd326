"""Subcommands of the ecosystem: answer (approval gate), ui, serve, chat, graph."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from langgraph.types import Command
from pydantic import ValidationError

from drpo.cli.runs import RunFailed, unreadable
from drpo.cli.show import print_summary
from drpo.core.schemas import ApprovalAnswer
from drpo.llm.backends.completion import checked_spec
from drpo.runtime.file_checks import StateFileError
from drpo.runtime.runlock import RunLocked
from drpo.runtime.runner import Run, RunError, execute, summary
from drpo.ui.mermaid import mermaid
from drpo.web.guard import Guard, new_token
from drpo.web.policy import RequestPolicy

HOST = "127.0.0.1"
MAX_BODY = 1 << 20  # drpo serve: 1 MiB per request


def add_parsers(sub: Any) -> None:
    ans = sub.add_parser("answer", help="answer a run's pending approval and continue it")
    ans.add_argument("run_id")
    ans.add_argument("action", choices=["approve", "edit", "reject"])
    ans.add_argument("--text", help="the edited prompt (action edit)")
    ans.add_argument("--run-dir", type=Path, default=Path("runs"))
    ans.set_defaults(handler=_answer)

    ui = sub.add_parser("ui", help="the run inspector page for the runs of a run dir")
    ui.add_argument("--run-dir", type=Path, default=Path("runs"))
    ui.add_argument("--host", default=HOST, help="bind address (default loopback)")
    ui.add_argument("--port", type=int, default=8765)
    ui.add_argument(
        "--judge-node", action="append", default=[],
        help="a judge node (module:function) a fork from the page may use (repeatable)",
    )  # fmt: skip
    ui.add_argument(
        "--model", action="append", default=[],
        help="a model spec a fork from the page may use beyond the run's own (repeatable)",
    )  # fmt: skip
    ui.set_defaults(handler=_ui)

    for name, text in (("serve", "an OpenAI-compatible server"), ("chat", "a terminal chat")):
        sp = sub.add_parser(name, help=f"{text} answering with an alignment pack")
        sp.add_argument("pack", type=Path)
        sp.add_argument("--base", required=True, help="model spec of the base model")
        if name == "serve":
            sp.add_argument("--host", default=HOST, help="bind address (default loopback)")
            sp.add_argument("--port", type=int, default=8000)
            sp.add_argument(
                "--api-key",
                default=os.environ.get("DRPO_SERVE_API_KEY") or None,
                help="the key clients send (Authorization: Bearer KEY); default "
                "DRPO_SERVE_API_KEY, else a fresh one printed at start",
            )
            sp.add_argument(
                "--no-auth", action="store_true", help="ask no key (loopback only)"
            )
            sp.add_argument(
                "--max-body", type=int, default=MAX_BODY,
                help=f"largest request body in bytes (default {MAX_BODY}; larger: 413)",
            )  # fmt: skip
        sp.set_defaults(handler=_serve if name == "serve" else _chat)

    gr = sub.add_parser("graph", help="print the graph (both stages' loop) as mermaid text")
    gr.set_defaults(handler=_graph)


async def _answer(args: argparse.Namespace) -> int:
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
    print_summary(result, as_json=False)
    return 0


def _uvicorn(app: Any, host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))


def _aligned(args: argparse.Namespace) -> Any:
    from drpo.serving.aligned import AlignedChatModel

    checked_spec(args.base, "base")
    return AlignedChatModel.from_pack(args.pack, args.base)


async def _serve(args: argparse.Namespace) -> int:
    from drpo.serving.serve import create_app

    if args.no_auth and args.api_key:
        raise ValueError("--no-auth and --api-key exclude each other")
    if not 1024 <= args.max_body <= 1 << 30:
        raise ValueError(f"--max-body {args.max_body}: expected 1024..{1 << 30} bytes")
    key = None if args.no_auth else (args.api_key or new_token())
    guard = Guard(key, bind=args.host, max_body=args.max_body)  # --no-auth off loopback: error
    server = _uvicorn(create_app(_aligned(args), guard), args.host, args.port)
    url = f"http://{_authority(args.host, args.port)}/v1"
    shown = "" if key is None or args.api_key else f" (API key: {key})"
    print(f"serving {args.pack} on {url}{shown}", file=sys.stderr, flush=True)
    await server.serve()
    return 0


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _chat(args: argparse.Namespace) -> int:
    from drpo.serving.chat import chat_loop

    return await chat_loop(_aligned(args))


async def _ui(args: argparse.Namespace) -> int:
    from drpo.ui.app import create_app
    from drpo.ui.backends import LocalRuns

    if not args.run_dir.is_dir():
        raise ValueError(f"no run dir {args.run_dir}")
    policy = RequestPolicy.of(args.judge_node, args.model)
    token = new_token("DRPO_UI_TOKEN")
    app = create_app(LocalRuns(args.run_dir, policy), Guard(token, bind=args.host))
    server = _uvicorn(app, args.host, args.port)
    url = f"http://{_authority(args.host, args.port)}/ui/?token={token}"
    print(f"inspector on {url}", file=sys.stderr, flush=True)
    await server.serve()
    return 0


async def _graph(args: argparse.Namespace) -> int:
    print(mermaid())
    return 0

"""The inspector's Starlette app: the page and its JSON API under ``/ui`` and ``/studio``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from drpo.core.models.registry import SpecError
from drpo.core.schemas import ApprovalAnswer
from drpo.runtime.file_checks import StateFileError
from drpo.runtime.runner import RunError
from drpo.ui.backends import Backend
from drpo.ui.mermaid import all_diagrams
from drpo.ui.views import ForkRequest

STATIC = Path(str(files("drpo.ui") / "static"))  # page and bundled mermaid, package resources
PREFIXES = ("/ui", "/studio")
Handler = Callable[[Request], Awaitable[Any]]


def _json(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """JSON in and out; a bad request or an unknown run is a 400/404 with one line."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request))
        except (RunError, StateFileError) as exc:
            status = 404 if str(exc).startswith("no run") else 409
            return JSONResponse({"error": " ".join(str(exc).split())}, status_code=status)
        except (ValidationError, SpecError, ValueError, KeyError) as exc:
            return JSONResponse({"error": " ".join(str(exc).split())[:400]}, status_code=400)

    return endpoint


def routes(backend: Backend) -> list[BaseRoute]:
    diagrams: dict[str, str] = {}

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def graph(request: Request) -> dict[str, str]:
        if not diagrams:
            diagrams.update(all_diagrams())
        return diagrams

    async def runs(request: Request) -> list[dict[str, Any]]:
        return await backend.list_runs()

    async def run(request: Request) -> dict[str, Any]:
        return await backend.get_run(request.path_params["run_id"])

    async def history(request: Request) -> list[dict[str, Any]]:
        return await backend.history(request.path_params["run_id"])

    async def replay(request: Request) -> dict[str, Any]:
        body = await request.json()
        return await backend.replay(request.path_params["run_id"], body["checkpoint_id"])

    async def fork(request: Request) -> dict[str, Any]:
        fork = ForkRequest.model_validate(await request.json())
        return await backend.fork(request.path_params["run_id"], fork)

    async def answer(request: Request) -> dict[str, Any]:
        body = await request.json()
        return await backend.answer(
            request.path_params["run_id"], ApprovalAnswer.model_validate(body)
        )

    async def stop(request: Request) -> dict[str, Any]:
        return await backend.stop(request.path_params["run_id"])

    return [
        Route("/", index),
        Route("/api/graph", _json(graph)),
        Route("/api/runs", _json(runs)),
        Route("/api/runs/{run_id}", _json(run)),
        Route("/api/runs/{run_id}/history", _json(history)),
        Route("/api/runs/{run_id}/replay", _json(replay), methods=["POST"]),
        Route("/api/runs/{run_id}/fork", _json(fork), methods=["POST"]),
        Route("/api/runs/{run_id}/answer", _json(answer), methods=["POST"]),
        Route("/api/runs/{run_id}/stop", _json(stop), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]


def create_app(backend: Backend, home: bool = True) -> Starlette:
    """The page at /ui/ and /studio/; ``home`` also redirects / there (not in the server,
    which keeps / as its health check)."""

    async def to_ui(request: Request) -> Response:
        return RedirectResponse("/ui/")

    top: list[BaseRoute] = [Route("/", to_ui)] if home else []
    return Starlette(routes=[*top, *(Mount(p, routes=routes(backend)) for p in PREFIXES)])

"""The inspector's Starlette app: the page and its JSON API under ``/ui`` and ``/studio``.

Every request goes through the server's ``Guard`` (drpo/web/guard.py): Host and Origin checked by
its ``SiteGuard`` middleware, the token asked of every state-changing request by the routes (the
page reads it from its URL, ``?token=``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from drpo.core.schemas import ApprovalAnswer
from drpo.llm.backends.registry import SpecError
from drpo.runtime.file_checks import StateFileError
from drpo.runtime.runner import RunError
from drpo.ui.backends import Backend
from drpo.ui.mermaid import all_diagrams
from drpo.ui.views import ForkRequest
from drpo.web.guard import Guard, Refusal, SiteGuard

STATIC = Path(str(files("drpo.ui") / "static"))  # page and bundled mermaid, package resources
PREFIXES = ("/ui", "/studio")
Handler = Callable[[Request], Awaitable[Any]]


def _json(guard: Guard, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """JSON in and out, after the guard's checks; a refused or bad request or an unknown run is
    a 4xx with one line."""

    async def endpoint(request: Request) -> Response:
        try:
            guard.authorize(request)  # Host and Origin: the app's SiteGuard
            return JSONResponse(await handler(request))
        except Refusal as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except (RunError, StateFileError) as exc:
            status = 404 if str(exc).startswith("no run") else 409
            return JSONResponse({"error": " ".join(str(exc).split())}, status_code=status)
        except (ValidationError, SpecError, ValueError, KeyError) as exc:
            return JSONResponse({"error": " ".join(str(exc).split())[:400]}, status_code=400)

    return endpoint


def routes(backend: Backend, guard: Guard) -> list[BaseRoute]:
    diagrams: dict[str, str] = {}

    async def index(request: Request) -> Response:
        try:
            guard.authorize(request, changes_state=False)
        except Refusal as exc:
            return Response(exc.message, status_code=exc.status, media_type="text/plain")
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
        replay = ReplayRequest.model_validate(await guard.read_json(request))
        return await backend.replay(request.path_params["run_id"], replay.checkpoint_id)

    async def fork(request: Request) -> dict[str, Any]:
        fork = ForkRequest.model_validate(await guard.read_json(request))
        return await backend.fork(request.path_params["run_id"], fork)

    async def answer(request: Request) -> dict[str, Any]:
        answer = ApprovalAnswer.model_validate(await guard.read_json(request))
        return await backend.answer(request.path_params["run_id"], answer)

    async def stop(request: Request) -> dict[str, Any]:
        await guard.read_json(request)  # a JSON body ({}), so no form post can stop a run
        return await backend.stop(request.path_params["run_id"])

    def api(path: str, handler: Handler, post: bool = False) -> Route:
        return Route(path, _json(guard, handler), methods=["POST"] if post else ["GET"])

    return [
        Route("/", index),
        api("/api/graph", graph),
        api("/api/runs", runs),
        api("/api/runs/{run_id}", run),
        api("/api/runs/{run_id}/history", history),
        api("/api/runs/{run_id}/replay", replay, post=True),
        api("/api/runs/{run_id}/fork", fork, post=True),
        api("/api/runs/{run_id}/answer", answer, post=True),
        api("/api/runs/{run_id}/stop", stop, post=True),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    checkpoint_id: str = Field(pattern=r"^[0-9A-Za-z-]{1,64}$")


def create_app(
    backend: Backend, guard: Guard, home: bool = True, exempt_root: str | None = None
) -> Starlette:
    """The page at /ui/ and /studio/; ``home`` also redirects / there (not in the server,
    which keeps / as its health check). Its ``SiteGuard`` middleware checks Host and Origin of
    every request; inside `langgraph dev` that is every request of the server."""

    async def to_ui(request: Request) -> Response:
        return RedirectResponse("/ui/")

    top: list[BaseRoute] = [Route("/", to_ui)] if home else []
    return Starlette(
        routes=[*top, *(Mount(p, routes=routes(backend, guard)) for p in PREFIXES)],
        middleware=[Middleware(SiteGuard, guard=guard, exempt_root=exempt_root)],
    )

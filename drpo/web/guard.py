"""Who may call a local server. A server on 127.0.0.1 is reachable by every web page its user
opens, so each request is checked before it is handled:

- **Host** must name the address the server answers to (a DNS-rebinding page sends its own name);
- **Origin**, when a browser sends one, must be the server's own page (a cross-site POST);
- a state-changing request carries the per-process **token** (``Authorization: Bearer T`` or
  ``X-DRPO-Token: T``) and a JSON body sent as ``application/json`` (no ``text/plain`` form post),
  of at most ``max_body`` bytes;
- bound to anything but loopback, every request needs the token.

A refusal is a ``Refusal`` (an HTTP status and one line); ``read_json`` reads a capped body.
``SiteGuard`` checks Host and Origin of every request of a whole server (as middleware of the
inspector's app it also covers the LangGraph API of `langgraph dev`, whose CORS allows any origin).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_HEADER = "x-drpo-token"


class Refusal(Exception):
    """A request the server will not handle: ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def new_token(env: str | None = None) -> str:
    """The token from the environment variable ``env`` when set, else a fresh random one."""
    given = os.environ.get(env, "").strip() if env else ""
    return given or secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (a name like ``127.evil.example`` is not)."""
    name = host.strip("[]").lower()
    if name in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hostname(authority: str) -> str:
    """The host part of ``host[:port]`` or ``[v6]:port``, lower case."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1 : authority.find("]")] if "]" in authority else authority
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


@dataclass(frozen=True)
class Guard:
    """The checks of one server process; ``token`` None means none is asked (``--no-auth``)."""

    token: str | None
    bind: str = "127.0.0.1"
    max_body: int = 64 * 1024
    hosts: frozenset[str] = field(default_factory=frozenset)  # names beyond loopback's
    origins: frozenset[str] = field(default_factory=frozenset)  # other pages allowed to call

    def __post_init__(self) -> None:
        if self.token is None and not is_loopback(self.bind):
            raise ValueError(f"binding {self.bind} (not loopback) needs a token")

    @property
    def open_reads(self) -> bool:
        """Reads without the token: only on loopback (Host and Origin keep other pages out)."""
        return is_loopback(self.bind)

    def check(self, request: Request, changes_state: bool | None = None) -> None:
        """Raise a ``Refusal`` unless the request may be handled."""
        self.check_site(request)
        self.authorize(request, changes_state)

    def authorize(self, request: Request, changes_state: bool | None = None) -> None:
        """The token, where one is asked: state-changing requests, and every request off
        loopback (an app behind ``SiteGuard`` has had its Host and Origin checked)."""
        if changes_state is None:
            changes_state = request.method not in SAFE_METHODS
        if changes_state or not self.open_reads:
            self._check_token(request)

    def check_site(self, request: Request) -> None:
        """Host names this server (on loopback); Origin, when sent, is its own page."""
        host = request.headers.get("host", "").lower()
        if self.open_reads and not (is_loopback(_hostname(host)) or _hostname(host) in self.hosts):
            raise Refusal(403, f"refused: Host {host!r} is not this server's address")
        origin = request.headers.get("origin")
        own = origin is not None and origin != "null" and urlsplit(origin).netloc.lower() == host
        if origin is not None and not own and origin not in self.origins:
            raise Refusal(403, f"refused: a request from another page ({origin})")
        if origin is None and request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            raise Refusal(403, "refused: a request from another site")

    def _check_token(self, request: Request) -> None:
        if self.token is None:
            return
        given = request.headers.get(TOKEN_HEADER) or ""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if not given and scheme.lower() == "bearer":
            given = value.strip()
        if not given and request.method in SAFE_METHODS:  # opening the printed URL (Jupyter)
            given = request.query_params.get("token", "")
        if not given:
            raise Refusal(401, "refused: this server needs its token (see the URL it printed)")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise Refusal(401, "refused: wrong token")

    async def read_json(self, request: Request) -> Any:
        """The body as JSON: ``application/json`` only, at most ``max_body`` bytes, parsed
        without recursing past Python's limit (deep nesting is a 400, not a traceback)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise Refusal(415, f"refused: send JSON as application/json (got {kind or 'none'!r})")
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            raise Refusal(413, f"request body over {self.max_body} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body:
                raise Refusal(413, f"request body over {self.max_body} bytes")
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise Refusal(400, f"the body is not valid JSON: {reason}") from None


class SiteGuard:
    """ASGI middleware: ``Guard.check_site`` on every HTTP request of the app it wraps. Requests
    of the LangGraph server's in-process client (root path ``exempt_root``, which no network
    request can set) pass."""

    def __init__(self, app: ASGIApp, guard: Guard, exempt_root: str | None = None) -> None:
        self.app, self.guard, self.exempt_root = app, guard, exempt_root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inside = self.exempt_root is not None and scope.get("root_path") == self.exempt_root
        if scope["type"] == "http" and not inside:
            try:
                self.guard.check_site(Request(scope))
            except Refusal as exc:
                response = JSONResponse({"error": exc.message}, status_code=exc.status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

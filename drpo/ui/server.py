"""The inspector inside the LangGraph server (``langgraph.json`` ``http.app``): /ui and /studio/.

Its token is ``DRPO_UI_TOKEN`` when set, else a fresh one printed at start (open
``/ui/?token=...`` on the server). ``DRPO_UI_JUDGES`` and ``DRPO_UI_MODELS`` (whitespace-separated)
name the judge nodes and model specs a fork from the page may use beyond the built-ins and the
run's own; ``DRPO_UI_HOSTS`` the host names it answers to beyond loopback's (a deployment), and
``DRPO_UI_ORIGINS`` the pages beyond its own that may call it (e.g. a hosted Studio). The app's
Host and Origin middleware wraps the whole server, the LangGraph API included (its CORS allows any
origin); the SDK's in-process client (root path ``/noauth``) passes."""

from __future__ import annotations

import os
import sys

from drpo.ui.app import create_app
from drpo.ui.server_runs import ServerRuns
from drpo.web.guard import Guard, new_token
from drpo.web.policy import RequestPolicy

TOKEN = new_token("DRPO_UI_TOKEN")
_policy = RequestPolicy.of(
    os.environ.get("DRPO_UI_JUDGES", "").split(), os.environ.get("DRPO_UI_MODELS", "").split()
)
_guard = Guard(
    TOKEN,
    hosts=frozenset(os.environ.get("DRPO_UI_HOSTS", "").lower().split()),
    origins=frozenset(os.environ.get("DRPO_UI_ORIGINS", "").split()),
)
app = create_app(ServerRuns(_policy), _guard, home=False, exempt_root="/noauth")
if not os.environ.get("DRPO_UI_TOKEN", "").strip():  # a token the user cannot know otherwise
    print(f"drpo inspector: open /ui/?token={TOKEN} on this server", file=sys.stderr, flush=True)

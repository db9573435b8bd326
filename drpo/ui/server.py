"""The inspector inside the LangGraph server (``langgraph.json`` ``http.app``): /ui and /studio/."""

from __future__ import annotations

from drpo.ui.app import create_app
from drpo.ui.server_runs import ServerRuns

app = create_app(ServerRuns(), home=False)

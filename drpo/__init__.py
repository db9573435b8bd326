"""DRPO: Dynamic Rewarding with Prompt Optimization, as a resumable LangGraph workflow."""

__version__ = "0.1.0"

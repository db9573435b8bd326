"""The run inspector: one page served by the LangGraph server (``/ui``, ``/studio/``) and by
``drpo ui`` for CLI runs; both backends feed the same JSON views (``views.py``)."""

"""What the local servers (`drpo ui`, the inspector under `langgraph dev`, `drpo serve`) share:
who may call them (``guard``) and what a request may name (``policy``)."""

"""Running a DRPO run: run directories and their lock, checkpointer and store, state-file checks,
the LLM-call cache, graceful stops and forks. Above graph/, below the applications."""

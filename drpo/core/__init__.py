"""The core layer: configuration and Context, state and Send payloads, meta-prompts, schemas,
judges, LLM calls, the session the model hooks consult, the cost model, data and model backends.
It imports nothing from retrieval/, nodes/, graph/, evals/ or the other drpo packages
(.importlinter)."""

"""Model access: backends and their specs, the calls (structured output, replies, retries), the
run's session and hooks (LLM-call cache, budgets, usage, rate limits, provider errors), prices,
costs and the dry run's estimate, and the judges that call models. Below the nodes, above
``drpo.core`` (.importlinter)."""

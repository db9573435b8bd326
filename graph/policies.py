"""Node policies shared by both stages."""

from langgraph.types import RetryPolicy

# Transient provider faults (connection errors, 5xx) are retried per task with backoff; a reply
# that never parses is retried inside the call and then fails the run with a clear error.
LLM_RETRY = RetryPolicy(max_attempts=3, initial_interval=1.0)

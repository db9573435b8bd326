"""Node policies shared by both stages."""

from langgraph.types import RetryPolicy

from drpo.llm.provider_errors import is_transient

# Transient provider faults (connection errors, 5xx) are retried per task with backoff; a reply
# that never parses is retried inside the call and then fails the run with a clear error.
# Only transient faults (429, 5xx, timeouts, connection errors) are retried; a 401 or 404 is not.
LLM_RETRY = RetryPolicy(
    max_attempts=4, initial_interval=1.0, max_interval=30.0, retry_on=is_transient
)

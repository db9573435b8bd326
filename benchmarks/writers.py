"""The run's writer lock seen from outside: the tests' helpers (tests/support/writers.py)."""

from tests.support.writers import holds_lock, park_waiter, probe_refused

__all__ = ["holds_lock", "park_waiter", "probe_refused"]

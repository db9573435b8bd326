"""Kill a real `drpo` process and account for what resuming repeats: the tests' helpers
(tests/support/kills.py), which the benchmarks share."""

from tests.support.kills import (
    ARGS,
    ENV,
    PER_ROLE,
    check_kills,
    drpo,
    events,
    fake_spec,
    kill,
    launch,
    roles,
    saved_state,
    starts,
    wait_for,
)

__all__ = ["ARGS", "ENV", "PER_ROLE", "check_kills", "drpo", "events", "fake_spec", "kill",
           "launch", "roles", "saved_state", "starts", "wait_for"]  # fmt: skip

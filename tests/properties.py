"""Shared by the property tests (hypothesis): the errors a rejected reply may raise, the settings,
and the floors on how many generated examples reach each assertion (counted in
tests/conftest.py's REACHED, printed at the end of the session)."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, settings
from langchain_core.exceptions import OutputParserException

from tests.conftest import REACHED

PARSE_ERRORS = (OutputParserException, ValueError)  # ValidationError is a ValueError
# derandomized: the same examples every run, so the counts of examples reaching each assertion
# (and their floors) are reproducible
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def floor(name: str, reached: Counter[str], **floors: int) -> None:
    """Record how many examples reached each assertion, and require a floor for each."""
    REACHED[name] = dict(reached)
    low = {k: reached[k] for k, least in floors.items() if reached[k] < least}
    assert not low, f"{name}: too few examples reached {low} (floors {floors})"

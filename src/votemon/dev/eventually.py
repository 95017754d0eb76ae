"""The one way the tooling and the tests wait: on a fact, polled with tenacity, never on the clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tenacity

T = TypeVar("T")


def eventually(
    condition: Callable[[], T | None],
    what: str,
    *,
    within: float,
    interval: float = 0.1,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Poll `condition` until it returns something true, and return that. An exception of a type in
    `ignoring` counts as "not yet"; any other ends the wait. Fails saying `what` within `within` s,
    with the last ignored error's message (and that error as the cause)."""
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(within),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_not_result(bool) | tenacity.retry_if_exception_type(ignoring),
    )
    try:
        found = retrying(condition)
    except tenacity.RetryError as error:
        last = error.last_attempt.exception()
        raise AssertionError(f"{what} within {within} s" + (f": {last}" if last else "")) from last
    assert found, "tenacity returned only once the condition held"
    return found

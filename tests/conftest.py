"""Fixtures over the real local stack (Kafka, Redis, FerretDB: `make stack` starts them). The helpers
they build on are in tests/support.py, which the tests import."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import test_settings
from tests.support import Pipeline, StackNotRunningError, running_pipeline

# The fixtures that need the local stack. A test that uses one, directly or through another fixture,
# is marked `stack`, so `pytest -m "not stack"` (make validate) selects none of them.
STACK_FIXTURES = frozenset({"pipeline"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if STACK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def pipeline() -> Iterator[Pipeline]:
    try:
        with running_pipeline(test_settings()) as started:
            yield started
    except StackNotRunningError as error:
        pytest.fail(str(error))

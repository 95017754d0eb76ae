"""Fixtures over the real local stack (Kafka, Redis, FerretDB: `make stack` starts them). The helpers
they build on are in votemon.dev and tests/support.py, which the tests import."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import Browser

from tests.support import LargeStore, count, store_settings, test_settings
from votemon.dev.browser import chromium
from votemon.dev.pipeline import Pipeline, StackNotRunningError, running_pipeline
from votemon.dev.redis_databases import RedisDatabase

# The fixtures that need the local stack. A test that uses one, directly or through another fixture,
# is marked `stack`, so `pytest -m "not stack"` (make validate) selects none of them.
STACK_FIXTURES = frozenset({"pipeline", "large_store"})


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


@pytest.fixture(autouse=True)
def session_services_outlive_the_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A service of the shared pipeline that ends during a test fails that test, naming it with its log's
    end, and is started again: one crash is one failure, not "connection refused" in every later test.
    Fault tests stop services on purpose, on a pipeline of their own."""
    yield
    if "pipeline" not in request.fixturenames or request.node.get_closest_marker("fault"):
        return
    ended = request.getfixturevalue("pipeline").revive_ended()
    assert not ended, (
        "services of the shared pipeline ended during this test (restarted since):\n"
        + "\n".join(f"--- {name}, {how}" for name, how in ended.items())
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (votemon.dev.browser) for the page's test and the Argo CD UI's: a missing
    Chromium fails the test, it never skips."""
    try:
        with chromium() as started:
            yield started
    except FileNotFoundError as missing:
        pytest.fail(str(missing))


@pytest.fixture(scope="session")
def large_store() -> Iterator[LargeStore]:
    """200,000 votes counted by the consumer's script, seeded directly (about 10 s)."""
    settings = store_settings(RedisDatabase.TEST_LARGE_STORE, dedup_window_seconds=5)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    client.flushdb()
    votes, prefix = 200_000, f"large-{uuid.uuid4().hex[:6]}"
    assert count(settings, 0, votes, prefix) == votes
    yield LargeStore(settings, client, votes, prefix)
    client.flushdb()
    client.close()

"""The one map of the local Redis server's databases: who owns which, so that no user flushes
another's (the tests, the bench and the demo share one server, and each flushes its own database)."""

from __future__ import annotations

import enum
import os

import httpx

from votemon.settings import Settings


@enum.unique
class RedisDatabase(enum.IntEnum):
    DEMO = 0  # `make up` / `make demo` (the settings' default REDIS_URL)
    BENCH_PIPELINE = 1  # `make bench`: the pipeline under load
    BENCH_FLOORS = 2  # `make bench`: the libraries' floors (bench.floors)
    BENCH_RESULTS_SCALE = 3  # `make bench`: bench.results_scale's seeded store
    BENCH_STREAM = 4  # bench.stream: the stream's cost against the number of viewers
    TEST_REDIS_USERS = 9  # tests/test_redis_users.py: what each service's Redis user may do
    TEST_BOUNDS_SMALL = 10  # tests/test_bounds.py: a store at its memory limit
    TEST_LARGE_STORE = 11  # the tests' `large_store` fixture
    TEST_BOUNDS = 12  # tests/test_bounds.py: the dedup window's bounds
    TEST_TALLY = 13  # tests/test_tally.py
    TEST_STREAM = 14  # tests/test_stream.py: results processes of their own
    TEST_PIPELINE = 15  # the tests' pipelines (`make test`)


def redis_server_url() -> str:
    """The Redis server of the settings (REDIS_URL), or TEST_REDIS_URL's when set (its database number is
    ignored)."""
    return os.environ.get("TEST_REDIS_URL") or Settings().redis_url


def redis_url(database: RedisDatabase) -> str:
    """The URL of `database` on the local Redis server."""
    return str(httpx.URL(redis_server_url()).copy_with(path=f"/{int(database)}"))

"""Helpers of the tests over the real local stack that the tooling (votemon.dev) does not hold: the
tests' settings and a store seeded with many counted votes. Plain module: conftest.py and the tests
import it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from dataclasses import dataclass
from typing import Any

import httpx
import redis

from votemon.dev.processes import Service, free_port, isolated_settings
from votemon.dev.redis_databases import RedisDatabase, redis_url
from votemon.dev.seed import count_votes
from votemon.settings import Settings
from votemon.store.tally import Tally, redis_client
from votemon.votes import utc_now


def test_settings(**overrides: Any) -> Settings:
    """Settings for one test session: unique names, free ports, the tests' Redis database."""
    # one trusted proxy: the tests act as the load balancer and send X-Forwarded-For themselves
    values = {"redis_url": redis_url(RedisDatabase.TEST_PIPELINE), "front_trusted_proxy_hops": 1, **overrides}
    return isolated_settings(**values)


def service_metric(service: Service, name: str) -> float:
    """An unlabelled sample of a running service's /metrics; a missing one fails the test."""
    text = httpx.get(f"{service.base_url}/metrics", timeout=5).text
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, f"{name} missing"
    return float(match.group(1))


def store_settings(database: RedisDatabase, **overrides: Any) -> Settings:
    """Settings for a results service or a counting step on `database` of the local Redis server,
    with MongoDB at a closed port: whatever works then never reads the vote log."""
    return test_settings(
        redis_url=redis_url(database), mongo_uri=f"mongodb://127.0.0.1:{free_port()}/", **overrides
    )


def count(settings: Settings, start: int, stop: int, prefix: str, partition: int = 0) -> int:
    """Count generated votes [start, stop) with the consumer's own script (votemon.dev.seed), the
    newest accepted now; returns how many were counted. Runs its own event loop on a thread of
    its own, so it also works beside Playwright's."""

    async def run() -> int:
        client = redis_client(settings)
        try:
            return await count_votes(Tally(client, settings), start, stop, utc_now(), stop, prefix, partition)
        finally:
            await client.aclose()

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, run()).result()


@dataclass
class LargeStore:
    """Redis database TEST_LARGE_STORE holding what the consumer leaves after counting `votes` votes."""

    settings: Settings
    client: redis.Redis
    votes: int
    prefix: str

    def newest_ids(self, n: int) -> list[str]:
        return [f"{self.prefix}-{i:010d}" for i in range(self.votes - 1, self.votes - 1 - n, -1)]

"""Cost does not grow with the votes: Redis' dedupe memory is bounded by its window, and the
results endpoints read the same small structures at 1,000 and at 200,000 counted votes, without
ever touching the vote log in MongoDB."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis
from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

from tests.support import LargeStore, count, store_settings
from votemon.dev.processes import Service
from votemon.dev.redis_databases import RedisDatabase
from votemon.settings import Settings
from votemon.store import tally

pytestmark = pytest.mark.stack

# seconds: the dedupe window of these tests, longer than counting N votes takes on a loaded machine
# (with 2 s, a CI run beside the cluster's tests saw the first of them expire before the check)
WINDOW = 8
N = 20_000


def dedupe_state(client: redis.Redis) -> tuple[int, int, int]:
    """(dedupe sets, ids in them, their bytes)."""
    keys = list(client.scan_iter(f"{tally.SEEN_PREFIX}*", count=1000))
    ids = sum(int(client.scard(key)) for key in keys)
    size = sum(int(client.memory_usage(key, samples=0) or 0) for key in keys)
    return len(keys), ids, size


@retry(retry=retry_if_result(bool), wait=wait_fixed(0.2), stop=stop_after_delay(6 * WINDOW), reraise=True)
def still_there(client: redis.Redis, keys: list[str]) -> int:
    """How many of `keys` exist, retried until none does (EXISTS also expires a due key)."""
    return int(client.exists(*keys))


@pytest.fixture
def counters() -> Iterator[tuple[Settings, redis.Redis]]:
    settings = store_settings(RedisDatabase.TEST_BOUNDS, dedup_window_seconds=WINDOW)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    client.flushdb()
    yield settings, client
    client.flushdb()
    client.close()


def test_dedupe_memory_does_not_grow_with_a_second_batch_after_the_window(
    counters: tuple[Settings, redis.Redis],
) -> None:
    settings, client = counters
    assert count(settings, 0, N, "first") == N
    first_keys = list(client.scan_iter(f"{tally.SEEN_PREFIX}*"))
    _, ids, size = dedupe_state(client)
    assert ids == N, "every id counted in the window is kept"
    assert size > N * 16, f"{size} bytes for {N} ids: not measuring the dedupe sets"

    assert still_there(client, first_keys) == 0  # the window has passed: the first batch's sets expired
    assert count(settings, N, 2 * N, "second") == N
    sets_after, ids_after, size_after = dedupe_state(client)
    assert int(client.get(tally.TOTAL) or 0) == 2 * N
    assert ids_after == N, f"{ids_after} ids kept after {2 * N} votes: the first batch's stayed"
    # Keeping the first batch would double the bytes; the same N ids take up to ~20 % more or less
    # depending on how they split across sets (hash tables grow by powers of two).
    assert size_after <= size * 1.5, f"dedupe bytes grew from {size} to {size_after}"
    assert sets_after <= tally.DEDUP_BUCKETS + 2  # the window's sets, the one expiring, the one filling
    assert client.zcard(tally.LATEST) == tally.LATEST_SIZE


def test_a_retry_inside_the_window_counts_once_after_it_again(counters: tuple[Settings, redis.Redis]) -> None:
    settings, client = counters
    # The same vote id in other partitions: offsets cannot tell, the dedupe sets do.
    assert count(settings, 0, 1, "retry", partition=0) == 1
    assert count(settings, 0, 1, "retry", partition=1) == 0
    keys = list(client.scan_iter(f"{tally.SEEN_PREFIX}*"))
    assert still_there(client, keys) == 0
    assert count(settings, 0, 1, "retry", partition=2) == 1, "after the window a retry is a new vote"
    assert int(client.get(tally.TOTAL) or 0) == 2


def test_results_endpoints_read_the_same_small_structures_at_200k_votes(large_store: LargeStore) -> None:
    small = store_settings(RedisDatabase.TEST_BOUNDS_SMALL)
    small_client = redis.Redis.from_url(small.redis_url, decode_responses=True)
    small_client.flushdb()
    try:
        assert count(small, 0, 1000, "small") == 1000
        results = {
            name: Service("results", s).start()
            for name, s in (("small", small), ("large", large_store.settings))
        }
        try:
            answers = {}
            for name, service in results.items():
                service.wait_ready()
                with httpx.Client(base_url=service.base_url, timeout=10) as http:
                    # MONGO_URI points at a closed port: every answer here comes from Redis alone
                    answers[name] = {
                        path: http.get(path).raise_for_status().json()
                        for path in ("/api/totals", "/api/logs?limit=100", "/api/rate?seconds=3600")
                    }
        finally:
            for service in results.values():
                assert service.stop() == 0
        large = large_store.client
        assert answers["large"]["/api/totals"]["total"] == large_store.votes
        assert [e["id"] for e in answers["large"]["/api/logs?limit=100"]["logs"]] == large_store.newest_ids(
            100
        )
        assert len(answers["small"]["/api/logs?limit=100"]["logs"]) == 100
        # What the endpoints read has the same size whether 1,000 or 200,000 votes were counted.
        for key in (tally.TOTAL, tally.BY_BAND, tally.BY_ALBUM, tally.LATEST):
            assert int(large.memory_usage(key, samples=0) or 0) <= 2 * int(
                small_client.memory_usage(key, samples=0) or 0
            ), key
        assert large.zcard(tally.LATEST) == small_client.zcard(tally.LATEST) == tally.LATEST_SIZE
        assert large.hlen(tally.PER_SECOND) <= 3600 + 60  # read by HMGET of `seconds` fields: O(seconds)
    finally:
        small_client.flushdb()
        small_client.close()

"""The counting script (store/tally.lua) against Redis alone, no Kafka: a batch's counts and its
partition's next offset move together, a replay counts nothing, and a batch beyond what Redis
stores is refused with the offset to rewind to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import TopicPartition

from tests.support import store_settings
from votemon.dev.pipeline import vote
from votemon.dev.redis_databases import RedisDatabase
from votemon.store import PartitionBatch
from votemon.store.tally import Counted, Tally, redis_client
from votemon.votes import AcceptedVote, VoteIn, utc_now

pytestmark = pytest.mark.stack

TP = TopicPartition("votes", 0)


@pytest.fixture
async def counter() -> AsyncIterator[Tally]:
    settings = store_settings(RedisDatabase.TEST_TALLY)
    client = redis_client(settings)
    await client.flushdb()
    yield Tally(client, settings)
    await client.flushdb()
    await client.aclose()


def batch(start: int, end: int, tp: TopicPartition = TP) -> PartitionBatch:
    """Records [start, end), each a new vote for band "Tally"."""
    votes = [AcceptedVote.accept(VoteIn.model_validate(vote("Tally")), utc_now()) for _ in range(start, end)]
    return PartitionBatch(tp, start, end, list(zip(range(start, end), votes, strict=True)))


async def state(counter: Tally) -> tuple[int, dict[int, int]]:
    """(votes counted, stored offsets of the partitions 0 and 1)."""
    totals = await counter.totals()
    return totals["total"], await counter.stored_offsets(TP.topic, [0, 1])


async def test_a_batch_counts_its_votes_and_stores_the_partitions_next_offset(counter: Tally) -> None:
    assert await counter.count(batch(0, 5)) == Counted(5, None)
    assert await state(counter) == (5, {0: 5})


async def test_records_below_the_stored_offset_count_nothing_even_under_new_ids(counter: Tally) -> None:
    await counter.count(batch(0, 10))
    assert await counter.count(batch(0, 10)) == Counted(0, None), "a replay"
    assert await counter.count(batch(5, 15)) == Counted(5, None), "a batch across the stored offset"
    assert await state(counter) == (15, {0: 15})


async def test_a_vote_id_counted_in_the_window_counts_once_at_a_new_offset(counter: Tally) -> None:
    first = batch(0, 3)
    await counter.count(first)
    retried = PartitionBatch(TP, 3, 6, [(3 + i, v) for i, (_, v) in enumerate(first.votes)])
    assert await counter.count(retried) == Counted(0, None)
    assert await state(counter) == (3, {0: 6})


async def test_a_batch_beyond_the_stored_offset_changes_nothing_and_names_the_offset(counter: Tally) -> None:
    await counter.count(batch(0, 5))
    assert await counter.count(batch(8, 10)) == Counted(0, 5), "Redis lost offsets 5-7"
    assert await state(counter) == (5, {0: 5})


async def test_a_partition_without_a_stored_offset_counts_from_wherever_it_starts(counter: Tally) -> None:
    await counter.count(batch(0, 2))
    assert await counter.count(batch(40, 42, TopicPartition("votes", 1))) == Counted(2, None)
    await counter.skip_to(TP.topic, 0, 9)
    assert await state(counter) == (4, {0: 9, 1: 42})

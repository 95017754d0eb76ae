"""The commit protocol's order and failure handling, against in-memory stores (pure logic: no
Kafka, Redis or MongoDB). The script behind the count step is tested against Redis in test_tally."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import REGISTRY
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from tests.broken_consumers import CommitBeforeWrite
from votemon.consumer import Checkpoint, Offsets, Records, consume
from votemon.dev.pipeline import vote
from votemon.kafka import Record
from votemon.settings import Settings
from votemon.store import PartitionBatch
from votemon.store.tally import Counted, Tally
from votemon.votes import AcceptedVote, VoteIn, utc_now

TP = TopicPartition("votes", 3)
WRITES = ["log", "count", "counted", "commit"]


class Stores:
    """Every store and the offsets in memory; each call is noted, in order, in `steps`. A step
    named in `failures` raises the errors listed there first, one per call."""

    def __init__(self, behind: int | None = None, failures: dict[str, list[Exception]] | None = None) -> None:
        self.steps: list[str] = []
        self.behind = behind
        self.failures = failures or {}
        self.dead: list[Record] = []
        self.logged: list[int] = []
        self.committed: dict[TopicPartition, int] = {}
        self.rewound: dict[TopicPartition, int] = {}

    def step(self, name: str) -> None:
        if self.failures.get(name):
            self.steps.append(f"{name} failed")
            raise self.failures[name].pop(0)
        self.steps.append(name)

    async def send_all(self, topic: str, records: Sequence[Record]) -> None:
        self.step("dead-letter")
        self.dead += records

    async def insert(self, batches: Sequence[PartitionBatch], counted_at: datetime) -> int:
        self.step("log")
        self.logged += [offset for batch in batches for offset, _ in batch.votes]
        return sum(len(batch.votes) for batch in batches)

    async def count(self, batch: PartitionBatch) -> Counted:
        self.step("count")
        return Counted(0 if self.behind is not None else len(batch.votes), self.behind)

    def counted(self, tp: TopicPartition, end: int) -> None:
        self.step("counted")

    async def rewind(self, tp: TopicPartition, stored: int) -> None:
        self.step("rewind")
        self.rewound[tp] = stored

    async def commit(self, ends: dict[TopicPartition, int]) -> None:
        self.step("commit")
        self.committed |= ends

    async def reconcile(self) -> None:
        """Nothing to reconcile: these stores lose no writes unless told (`behind`)."""


def record(offset: int, value: bytes | None, tp: TopicPartition = TP) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"key", value, None, 3, len(value or b""), [])


def vote_record(offset: int, tp: TopicPartition = TP) -> ConsumerRecord[bytes, bytes]:
    accepted = AcceptedVote.accept(VoteIn.model_validate(vote("Alux Nahual", "El Viaje")), utc_now())
    return record(offset, accepted.kafka_value(), tp)


def checkpoint(stores: Stores, kind: type[Checkpoint] = Checkpoint, stopping: bool = False) -> Checkpoint:
    event = asyncio.Event()
    if stopping:
        event.set()
    fake: Any = stores  # in the place of each store and of the offsets
    return kind(Settings(), fake, fake, fake, fake, event)


async def one_poll(protocol: Checkpoint, polled: dict[TopicPartition, Records]) -> None:
    """One poll through the protocol, as the consumer's loop runs it (there, beside the next poll's write)."""
    await protocol.count_all(await protocol.write(polled))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def retries(step: str) -> float:
    return metric("votes_consumer_retries_total", step=step)


async def test_the_steps_run_in_order_and_the_partition_commits_its_next_offset() -> None:
    stores = Stores()
    poison = orjson.dumps({"name": "Checkpoint"})
    noted = (
        "votes_dead_letter_total",
        "votes_logged_total",
        "votes_counted_total",
        "votes_freshness_seconds_count",
    )
    before = [metric(name) for name in noted]
    await one_poll(checkpoint(stores), {TP: [vote_record(10), record(11, poison), vote_record(12)]})
    assert [metric(name) - n for name, n in zip(noted, before, strict=True)] == [1, 2, 2, 2]
    assert stores.steps == ["dead-letter", *WRITES]
    assert stores.logged == [10, 12], "the dead letter is not logged"
    key, value, headers = stores.dead[0]
    assert (key, value) == (b"key", poison)
    assert dict(headers)["source"] == b"votes:3:11"
    assert b"album" in dict(headers)["reason"]
    assert stores.committed == {TP: 13}


def stage_counts() -> list[float]:
    stages = ("decode", "dead_letters", "log_insert", "count", "commit")
    return [metric("votemon_consumer_stage_seconds_count", stage=stage) for stage in stages]


async def test_each_step_is_timed_once_per_partition_batch_and_only_when_it_ran() -> None:
    before = stage_counts()
    await one_poll(checkpoint(Stores()), {TP: [vote_record(10), record(11, b"{not json"), vote_record(12)]})
    assert [n - b for n, b in zip(stage_counts(), before, strict=True)] == [1, 1, 1, 1, 1]
    before = stage_counts()
    await one_poll(
        checkpoint(Stores(behind=5)), {TP: [vote_record(13)]}
    )  # no dead letter; rewound, no commit
    assert [n - b for n, b in zip(stage_counts(), before, strict=True)] == [1, 0, 1, 1, 0]


async def test_a_vote_outside_the_catalogue_is_dead_lettered_with_the_reason_and_counted_nowhere() -> None:
    """A record written around the front and the gRPC server (both check the catalogue)."""
    stores = Stores()
    outsider = AcceptedVote.accept(VoteIn.model_validate(vote("Alux Nahual", "Junk")), utc_now())
    await one_poll(checkpoint(stores), {TP: [vote_record(20), record(21, outsider.kafka_value())]})
    assert stores.logged == [20]
    assert dict(stores.dead[0][2])["reason"] == b"album: not an album of Alux Nahual in the catalogue"
    assert stores.committed == {TP: 22}


async def test_a_batch_of_votes_only_sends_no_dead_letters() -> None:
    stores = Stores()
    await one_poll(checkpoint(stores), {TP: [vote_record(0), vote_record(1)]})
    assert stores.steps == WRITES


async def test_the_order_check_catches_a_consumer_that_commits_before_it_writes() -> None:
    stores = Stores()
    await one_poll(checkpoint(stores, CommitBeforeWrite), {TP: [vote_record(0)]})
    assert stores.steps != WRITES


async def test_redis_behind_the_batch_rewinds_the_partition_and_commits_nothing() -> None:
    stores = Stores(behind=4)
    await one_poll(checkpoint(stores), {TP: [vote_record(7), vote_record(8)]})
    assert stores.steps == ["log", "count", "rewind"]
    assert stores.rewound == {TP: 4}
    assert stores.committed == {}


@pytest.mark.parametrize(
    ("step", "label", "error"),
    [
        ("dead-letter", "dead-letter", KafkaError()),
        ("log", "mongo", PyMongoError()),
        ("count", "redis", RedisError()),
    ],
)
async def test_a_failed_write_is_retried_and_nothing_after_it_runs_first(
    step: str, label: str, error: Exception
) -> None:
    stores = Stores(failures={step: [error, error]})
    before = retries(label)
    await one_poll(checkpoint(stores), {TP: [record(0, b"not a vote"), vote_record(1)]})
    expected = ["dead-letter", *WRITES]
    at = expected.index(step)
    assert stores.steps == [*expected[:at], f"{step} failed", f"{step} failed", *expected[at:]]
    assert retries(label) == before + 2
    assert stores.committed == {TP: 2}


async def test_stopping_while_a_write_fails_raises_it_and_nothing_is_counted_or_committed() -> None:
    stores = Stores(failures={"log": [PyMongoError("down")]})
    with pytest.raises(PyMongoError):
        await one_poll(checkpoint(stores, stopping=True), {TP: [vote_record(0)]})
    assert stores.steps == ["log failed"]


async def test_an_error_that_is_not_a_store_outage_is_not_retried() -> None:
    stores = Stores(failures={"count": [ValueError("bug")]})
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="bug")):  # the partitions count at once
        await one_poll(checkpoint(stores), {TP: [vote_record(0)]})
    assert stores.steps == ["log", "count failed"]


async def test_a_poll_logs_in_one_insert_and_each_partition_counts_and_commits_its_own_offset() -> None:
    stores = Stores()
    other = TopicPartition("votes", 4)
    polled = {
        TP: [vote_record(5), vote_record(6)],
        other: [vote_record(0, other)],
        TopicPartition("votes", 0): [],
    }
    await one_poll(checkpoint(stores), polled)
    assert stores.logged == [5, 6, 0]
    assert stores.steps[0] == "log" and stores.steps.count("log") == 1
    assert sorted(stores.steps[1:-1]) == ["count", "count", "counted", "counted"]
    assert stores.steps[-1] == "commit"
    assert stores.committed == {TP: 7, other: 1}


class CountsAfterTheNextLog(Stores):
    """The first poll's count holds until the second poll is logged."""

    def __init__(self) -> None:
        super().__init__()
        self.second_logged = asyncio.Event()
        self.counted_to: list[int] = []

    async def insert(self, batches: Sequence[PartitionBatch], counted_at: datetime) -> int:
        inserted = await super().insert(batches, counted_at)
        if len(self.logged) == 2:
            self.second_logged.set()
        return inserted

    async def count(self, batch: PartitionBatch) -> Counted:
        self.step("count")
        await self.second_logged.wait()
        return Counted(len(batch.votes), None)

    def counted(self, tp: TopicPartition, end: int) -> None:
        super().counted(tp, end)
        self.counted_to.append(end)


class Polls:
    """getmany returns these polls, then nothing, and stops the consumer."""

    def __init__(self, polls: list[dict[TopicPartition, Records]], stopping: asyncio.Event) -> None:
        self.polls = polls
        self.stopping = stopping

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, Records]:
        if self.polls:
            return self.polls.pop(0)
        self.stopping.set()
        return {}


async def test_the_loop_logs_the_next_poll_while_the_last_counts_and_counts_in_poll_order() -> None:
    stores = CountsAfterTheNextLog()
    protocol = checkpoint(stores)
    polls = Polls([{TP: [vote_record(0)]}, {TP: [vote_record(1)]}], protocol.stopping)
    await asyncio.wait_for(consume(cast(AIOKafkaConsumer, polls), protocol, Settings(), protocol.stopping), 5)
    logs = [at for at, step in enumerate(stores.steps) if step == "log"]
    assert logs[1] < stores.steps.index("counted"), "the second poll is logged before the first is counted"
    assert stores.counted_to == [1, 2], "the polls are counted in order"
    assert stores.steps[-1] == "commit" and stores.committed == {TP: 2}


class NotesCountsInFlight(Stores):
    """Notes whether a poll's counts were in flight (a task not done) when the loop reconciled: the
    reconcile reads Redis' offsets over the wire, and a count storing its offset meanwhile would
    look lost and be rewound."""

    def __init__(self) -> None:
        super().__init__()
        self.reconciled_beside_a_count = False

    async def reconcile(self) -> None:
        count_all = Checkpoint.count_all.__qualname__
        counting = [
            task
            for task in asyncio.all_tasks()
            if not task.done() and getattr(task.get_coro(), "__qualname__", "") == count_all
        ]
        self.reconciled_beside_a_count |= bool(counting)


async def test_the_loop_reconciles_the_offsets_only_while_no_count_is_in_flight() -> None:
    stores = NotesCountsInFlight()
    protocol = checkpoint(stores)
    polls = Polls([{TP: [vote_record(0)]}, {TP: [vote_record(1)]}], protocol.stopping)
    await asyncio.wait_for(consume(cast(AIOKafkaConsumer, polls), protocol, Settings(), protocol.stopping), 5)
    assert stores.committed == {TP: 2}
    assert not stores.reconciled_beside_a_count, "a stale read of Redis' offsets would rewind for nothing"


class FakeConsumer:
    """The part of AIOKafkaConsumer the offsets use; Kafka keeps the partitions from offset 2."""

    def __init__(self, assigned: list[TopicPartition]) -> None:
        self.assigned = set(assigned)
        self.positions: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}
        self.refuse = False  # commits fail, as after a rebalance

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.refuse:
            raise CommitFailedError("rebalanced")
        self.committed.update(offsets)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def highwater(self, tp: TopicPartition) -> int:
        return 100

    async def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 2)


class FakeTally:
    """The offsets Redis stores, in a dict."""

    def __init__(self, stored: dict[int, int]) -> None:
        self.stored = stored

    async def stored_offsets(self, topic: str, partitions: list[int]) -> dict[int, int]:
        return {p: self.stored[p] for p in partitions if p in self.stored}

    async def skip_to(self, topic: str, partition: int, offset: int) -> None:
        self.stored[partition] = offset


def offsets_over(consumer: FakeConsumer, tally: FakeTally) -> Offsets:
    return Offsets(cast(AIOKafkaConsumer, consumer), cast(Tally, tally), "votes")


async def test_assigned_partitions_resume_at_the_offset_stored_in_redis() -> None:
    consumer = FakeConsumer([])
    await offsets_over(consumer, FakeTally({0: 40, 3: 7})).on_partitions_assigned(
        [TopicPartition("votes", p) for p in (0, 1, 3)]
    )
    assert consumer.positions == {TopicPartition("votes", 0): 40, TP: 7}, "partition 1: Kafka's own position"


async def test_reconcile_rewinds_partitions_that_redis_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("votemon.consumer.RECONCILE_SECONDS", 0)
    quiet, lost, gone = (TopicPartition("votes", p) for p in (0, 1, 2))
    consumer = FakeConsumer([quiet, lost, gone])
    tally = FakeTally({0: 50, 1: 30})  # partition 2: Redis lost everything
    position = offsets_over(consumer, tally)
    for tp in (quiet, lost, gone):
        position.counted(tp, 50)
    assert metric("votes_consumer_lag", partition="0") == 50, "the fake's partitions end at 100"
    await position.reconcile()
    assert consumer.positions == {lost: 30, gone: 2}, "back to Redis' offset, or Kafka's oldest record"
    assert tally.stored == {0: 50, 1: 30, 2: 2}, "the records Kafka no longer has are skipped in Redis too"


async def test_a_partition_revoked_before_its_rewind_is_left_to_its_new_member() -> None:
    consumer = FakeConsumer([])
    tally = FakeTally({})
    await offsets_over(consumer, tally).rewind(TP, 0)
    assert (consumer.positions, tally.stored) == ({}, {})


async def test_partitions_are_given_up_once_the_last_polls_counts_are_done() -> None:
    position = offsets_over(FakeConsumer([TP]), FakeTally({}))
    counted = asyncio.Event()

    async def counts() -> None:
        await counted.wait()

    position.counting = asyncio.create_task(counts())
    revoking = asyncio.create_task(position.on_partitions_revoked([TP]))
    await asyncio.sleep(0)  # one turn of the loop: the revoke starts and reaches the counts
    assert not revoking.done(), "the partitions would go to another member before their offsets are in Redis"
    counted.set()
    await asyncio.wait_for(revoking, 5)


async def test_the_kafka_commit_is_best_effort() -> None:
    consumer = FakeConsumer([TP])
    position = offsets_over(consumer, FakeTally({}))
    await position.commit({TP: 8})
    consumer.refuse = True
    await position.commit({TP: 9})  # the partition moved to another member: noted, not raised
    assert consumer.committed == {TP: 8}

"""The consumer (group `vote-counter`): counts each vote exactly once in Redis and logs it in MongoDB.

For each partition of each batch it does, in order:
  1. send poison records (not a vote) to the dead-letter topic, and wait for the broker's ack;
  2. insert the votes' log documents into MongoDB (`_id` = vote id: a replay inserts nothing);
  3. count the votes in Redis and store the partition's next offset, in one atomic script;
  4. commit that offset to Kafka, for lag monitoring (the offset in Redis is the one that counts).
If Redis lost its last writes (it fsyncs every second), step 3 finds its stored offset behind the
batch and the consumer seeks back there instead of counting.
A crash between any two steps replays the batch on restart; steps 2 and 3 make the replay a no-op.
On assignment the consumer seeks each partition to its offset stored in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from aiokafka import (
    AIOKafkaConsumer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from votemon.kafka import ReliableProducer
from votemon.runtime import configure_logging, ops_app, serve_app, stop_event
from votemon.settings import Settings
from votemon.store.tally import Tally, redis_client
from votemon.store.vote_log import VoteLog, mongo_client
from votemon.votes import AcceptedVote, utc_now

COUNTED = Counter("votes_counted_total", "Votes counted in Redis for the first time")
LOGGED = Counter("votes_logged_total", "Log documents inserted into MongoDB for the first time")
REPLAYED = Counter("votes_replayed_total", "Votes skipped because they were counted before")
DEAD_LETTERS = Counter(
    "votes_dead_letter_total", "Records that were not votes, sent to the dead-letter topic"
)
RETRIES = Counter("votes_consumer_retries_total", "Retried writes to Redis, MongoDB or Kafka", ["step"])
BATCH_SECONDS = Histogram("votes_consumer_batch_seconds", "Time to log, count and commit one batch")
FRESHNESS_SECONDS = Histogram(
    "votes_freshness_seconds",
    "From a vote's acceptance to its count in Redis",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REWINDS = Counter("votes_consumer_rewinds_total", "Seeks back to the offset stored in Redis")
LAG = Gauge("votes_consumer_lag", "Records behind the partition's end", ["partition"])
REDIS_USED_MEMORY = Gauge("votes_redis_used_memory_bytes", "Redis used_memory (INFO memory), every 15 s")
REDIS_MAXMEMORY = Gauge("votes_redis_maxmemory_bytes", "Redis maxmemory (0: no limit), every 15 s")
HOUSEKEEPING_SECONDS = 15

RETRYABLE = (RedisError, PyMongoError, KafkaError, OSError)
T = TypeVar("T")


class DeadLetter:
    """A record that is not a vote, with the reason."""

    def __init__(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        self.record = record
        self.reason = reason


def decode(
    records: list[ConsumerRecord[bytes, bytes]],
) -> tuple[list[tuple[int, AcceptedVote]], list[DeadLetter]]:
    """Split records into (offset, vote) pairs and dead letters."""
    votes, dead = [], []
    for record in records:
        try:
            votes.append((record.offset, AcceptedVote.from_kafka(record.value)))
        except ValidationError as error:
            reason = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors()
            )
            dead.append(DeadLetter(record, reason))
    return votes, dead


class VoteCounter:
    """Applies the four steps above to each batch, retrying each with backoff until it succeeds."""

    def __init__(
        self,
        settings: Settings,
        consumer: AIOKafkaConsumer,
        producer: ReliableProducer,
        tally: Tally,
        vote_log: VoteLog,
        stopping: asyncio.Event,
    ) -> None:
        self._settings = settings
        self._consumer = consumer
        self._producer = producer
        self._tally = tally
        self._log = vote_log
        self._stopping = stopping
        self._logger = structlog.get_logger()
        self._counted_to: dict[TopicPartition, int] = {}  # next offset, per partition this member counted

    async def retrying(self, step: str, action: Callable[[], Awaitable[T]]) -> T:
        def give_up(state: RetryCallState) -> bool:
            return self._stopping.is_set()

        def note(state: RetryCallState) -> None:
            RETRIES.labels(step=step).inc()
            error = state.outcome.exception() if state.outcome else None
            self._logger.warning("retrying", step=step, attempt=state.attempt_number, error=repr(error))

        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(RETRYABLE),
            wait=wait_exponential(multiplier=0.1, max=5),
            stop=give_up,
            before_sleep=note,
            reraise=True,
        ):
            with attempt:
                return await action()
        raise AssertionError("unreachable: AsyncRetrying returns or raises")

    async def process(self, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        """Log, count and commit every partition's records of one getmany()."""
        with BATCH_SECONDS.time():
            work = [(tp, records) for tp, records in batches.items() if records]
            # the partitions' Mongo and Redis writes overlap instead of queueing one after another
            done = await asyncio.gather(*(self._process_partition(tp, records) for tp, records in work))
            commits = {tp: records[-1].offset + 1 for (tp, records), ok in zip(work, done, strict=True) if ok}
            if commits:
                await self._commit(commits)

    async def _commit(self, commits: dict[TopicPartition, int]) -> None:
        """Step 4, best effort: the offsets that count are in Redis; Kafka's serve lag monitoring.
        A commit refused after a rebalance is not retried (the partition belongs to another member)."""
        try:
            await self._consumer.commit(commits)
        except KafkaError as error:
            self._logger.warning("offset commit to Kafka failed; Redis holds the offsets", error=repr(error))

    async def _process_partition(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> bool:
        """Steps 1-3 for one partition; False when the partition had to be rewound instead."""
        votes, dead = decode(records)
        if dead:
            await self.retrying("dead-letter", lambda: self._send_dead_letters(dead))
        now = utc_now()
        LOGGED.inc(await self.retrying("mongo", lambda: self._log.insert(tp.partition, votes, now)))
        span = (records[0].offset, records[-1].offset + 1)
        counted = await self.retrying("redis", lambda: self._tally.count(tp.topic, tp.partition, span, votes))
        if counted.rewind_to is not None:
            await self._rewind(tp, counted.rewind_to)
            return False
        COUNTED.inc(counted.votes)
        REPLAYED.inc(len(votes) - counted.votes)
        done = time.time()
        for _, vote in votes:
            FRESHNESS_SECONDS.observe(max(0.0, done - vote.accepted_at.timestamp()))
        self._counted_to[tp] = span[1]
        highwater = self._consumer.highwater(tp)
        if highwater is not None:
            LAG.labels(partition=str(tp.partition)).set(max(0, highwater - span[1]))
        return True

    async def reconcile(self) -> None:
        """Seek back every partition whose offset in Redis is behind what this member counted.

        Redis restarted from older data (its last second of writes, or everything since its last
        snapshot, is gone, counts and offsets together). A partition that gets new records finds
        out in step 3; this finds out for the quiet ones too. With no offset at all, Redis lost
        everything: the partition is counted again from the oldest record Kafka keeps.
        """
        assigned = [tp for tp in self._consumer.assignment() if tp in self._counted_to]
        if not assigned:
            return
        topic = self._settings.votes_topic
        stored = await self._tally.stored_offsets(topic, [tp.partition for tp in assigned])
        for tp in assigned:
            at = stored.get(tp.partition, 0)
            if at < self._counted_to[tp]:
                await self._rewind(tp, at)

    async def _rewind(self, tp: TopicPartition, stored: int) -> None:
        """Redis is behind this batch: read the partition again from Redis' offset, if Kafka still has it."""
        beginning = (await self._consumer.beginning_offsets([tp]))[tp]
        target = max(stored, beginning)
        REWINDS.inc()
        self._logger.warning("redis is behind the batch; rewinding", partition=tp.partition, to=target)
        if target > stored:
            # Kafka no longer holds the missing records; count on from the oldest it has.
            await self._tally.skip_to(tp.topic, tp.partition, target)
        self._consumer.seek(tp, target)
        self._counted_to[tp] = target

    async def _send_dead_letters(self, dead: list[DeadLetter]) -> None:
        """Produce each dead letter with its reason and source, and wait for the broker's acks."""
        records = []
        for letter in dead:
            record = letter.record
            source = f"{record.topic}:{record.partition}:{record.offset}"
            headers = [("reason", letter.reason.encode()), ("source", source.encode())]
            records.append((record.key, record.value or b"", headers))
            self._logger.warning("dead letter", source=source, reason=letter.reason)
        await self._producer.send_all(self._settings.dead_letter_topic, records)
        DEAD_LETTERS.inc(len(dead))


class SeekToCountedOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, resume each partition where Redis says counting stopped."""

    def __init__(self, consumer: AIOKafkaConsumer, tally: Tally, topic: str) -> None:
        self._consumer = consumer
        self._tally = tally
        self._topic = topic
        self._logger = structlog.get_logger()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._logger.info("partitions revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        partitions = sorted(tp.partition for tp in assigned if tp.topic == self._topic)
        stored = await self._tally.stored_offsets(self._topic, partitions)
        for partition, offset in stored.items():
            self._consumer.seek(TopicPartition(self._topic, partition), offset)
        self._logger.info("partitions assigned", partitions=partitions, resumed_from=stored)


async def housekeeping(tally: Tally, stopping: asyncio.Event) -> None:
    """Every 15 s: trim the rate series to its window, and export Redis' memory for the alert."""
    while not stopping.is_set():
        try:
            await tally.trim_rate()
            used, limit = await tally.memory()
            REDIS_USED_MEMORY.set(used)
            REDIS_MAXMEMORY.set(limit)
        except RedisError as error:
            structlog.get_logger().warning("redis housekeeping failed", error=repr(error))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=HOUSEKEEPING_SECONDS)


async def run(settings: Settings) -> None:
    logger = configure_logging(settings, "consumer")
    stopping = stop_event()
    redis = redis_client(settings)
    mongo = mongo_client(settings)
    tally = Tally(redis, settings)
    vote_log = VoteLog(mongo, settings)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        client_id="votemon-consumer",
    )
    producer = ReliableProducer(settings)
    counter = VoteCounter(settings, consumer, producer, tally, vote_log, stopping)

    async def ready() -> bool:
        try:
            await redis.ping()
        except RedisError:
            return False
        return bool(consumer.assignment()) and not stopping.is_set()

    ops = asyncio.create_task(
        serve_app(ops_app("consumer", ready), settings.consumer_metrics_bind, stopping, settings)
    )
    await counter.retrying("mongo", vote_log.ensure_indexes)
    await producer.start()
    await consumer.start()
    consumer.subscribe(
        [settings.votes_topic], listener=SeekToCountedOffsets(consumer, tally, settings.votes_topic)
    )
    trimmer = asyncio.create_task(housekeeping(tally, stopping))
    logger.info("consuming", topic=settings.votes_topic, group=settings.consumer_group)
    try:
        reconciled = time.monotonic()
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=settings.consumer_max_records)
            await counter.process(batches)
            if time.monotonic() - reconciled > 1:
                await counter.retrying("reconcile", counter.reconcile)
                reconciled = time.monotonic()
    except RETRYABLE as error:
        if not stopping.is_set():
            raise
        logger.warning("stopped while retrying; the batch will be replayed", error=repr(error))
    finally:
        logger.info("stopping: leaving the group")
        stopping.set()
        await consumer.stop()
        await producer.stop()
        await trimmer
        await ops
        await redis.aclose()
        await mongo.close()
    logger.info("stopped")

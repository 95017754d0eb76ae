"""The consumer (group `vote-counter`): counts each vote exactly once in Redis and logs it in MongoDB.

`Checkpoint.write` and `Checkpoint.count_all` run the commit protocol for the partitions of one
poll, step by step;
`Offsets` decides where each partition resumes (at the offset Redis stores with the counts);
`run` wires them to Kafka, Redis and MongoDB, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from votemon.catalogue import Catalogue
from votemon.kafka import Record, ReliableProducer, login
from votemon.runtime import configure_process, freeze_startup_objects, ops_app, serve_app, stop_event
from votemon.settings import Settings
from votemon.stages import Stages
from votemon.store import PartitionBatch
from votemon.store.tally import Tally, redis_client
from votemon.store.vote_log import VoteLog, mongo_client
from votemon.votes import AcceptedVote, utc_now

COUNTED = Counter("votes_counted_total", "Votes counted in Redis for the first time")
LOGGED = Counter("votes_logged_total", "Log documents inserted into MongoDB for the first time")
REPLAYED = Counter("votes_replayed_total", "Votes skipped because they were counted before")
DEAD_LETTERS = Counter(
    "votes_dead_letter_total",
    "Records that were not votes, or named a band or album not in the catalogue, sent to the "
    "dead-letter topic",
)
RETRIES = Counter("votes_consumer_retries_total", "Retried writes to Redis, MongoDB or Kafka", ["step"])
FRESHNESS_SECONDS = Histogram(
    "votes_freshness_seconds",
    "From a vote's acceptance to its count in Redis",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STAGES = Stages(
    "consumer",
    "The consumer's stages, per poll that returned records: poll_wait, decode, dead_letters (when "
    "there are some), log_insert, count (with the offsets) and commit (Kafka's, for lag)",
    ("poll_wait", "decode", "dead_letters", "log_insert", "count", "commit"),
)

REWINDS = Counter("votes_consumer_rewinds_total", "Seeks back to the offset stored in Redis")
LAG = Gauge("votes_consumer_lag", "Records behind the partition's end", ["partition"])
RECONCILE_SECONDS = 1.0
REDIS_USED_MEMORY = Gauge("votes_redis_used_memory_bytes", "Redis used_memory (INFO memory), every 15 s")
REDIS_MAXMEMORY = Gauge("votes_redis_maxmemory_bytes", "Redis maxmemory (0: no limit), every 15 s")
DISTINCT_NAMES = Gauge(
    "votes_distinct_names",
    "Bands and albums with counts in Redis (the rankings' sizes), every 15 s",
    ["kind"],
)
HOUSEKEEPING_SECONDS = 15

RETRYABLE = (RedisError, PyMongoError, KafkaError, OSError)
Records = list[ConsumerRecord[bytes, bytes]]
T = TypeVar("T")


class Offsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """Where each partition resumes: at the next offset Redis stores with the counts (Kafka's "offsets
    outside Kafka"), so the counters and their position never disagree. Seeks there on assignment,
    rewinds when Redis lost writes, and mirrors each offset to Kafka, for lag monitoring only."""

    def __init__(self, consumer: AIOKafkaConsumer, tally: Tally, topic: str) -> None:
        self._consumer = consumer
        self._tally = tally
        self._topic = topic
        self._logger = structlog.get_logger()
        self._counted_to: dict[TopicPartition, int] = {}  # next offset, per partition this member counted
        self._reconciled = time.monotonic()
        self.counting: asyncio.Task[None] | None = None  # the last poll's counts, set by consume()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Give the partitions up once the last poll's counts are done: until then their offsets are not
        in Redis, and their next member would read the poll again."""
        if self.counting is not None:
            await asyncio.wait([self.counting])
        self._logger.info("partitions revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Resume each partition where Redis says counting stopped."""
        partitions = sorted(tp.partition for tp in assigned if tp.topic == self._topic)
        stored = await self._tally.stored_offsets(self._topic, partitions)
        for partition, offset in stored.items():
            self._consumer.seek(TopicPartition(self._topic, partition), offset)
        self._logger.info("partitions assigned", partitions=partitions, resumed_from=stored)

    def counted(self, tp: TopicPartition, end: int) -> None:
        """Redis now stores `end` for this partition, with the counts."""
        self._counted_to[tp] = end
        highwater = self._consumer.highwater(tp)
        if highwater is not None:
            LAG.labels(partition=str(tp.partition)).set(max(0, highwater - end))

    async def commit(self, ends: dict[TopicPartition, int]) -> None:
        """Best effort: a commit refused after a rebalance is not retried (a partition belongs to
        another member now, and Redis holds the offsets anyway)."""
        try:
            await self._consumer.commit(ends)
        except KafkaError as error:
            self._logger.warning("offset commit to Kafka failed; Redis holds the offsets", error=repr(error))

    async def reconcile(self) -> None:
        """At most once a second, seek back each partition whose offset in Redis is behind what
        this member counted: Redis restarted from older data, counts and offsets lost together.
        A partition with new records finds out when it counts them; this catches the quiet ones.
        With no offset at all, the partition is counted again from the oldest record Kafka keeps."""
        if time.monotonic() - self._reconciled < RECONCILE_SECONDS:
            return
        assigned = [tp for tp in self._consumer.assignment() if tp in self._counted_to]
        stored = await self._tally.stored_offsets(self._topic, [tp.partition for tp in assigned])
        for tp in assigned:
            at = stored.get(tp.partition, 0)
            if at < self._counted_to[tp]:
                await self.rewind(tp, at)
        self._reconciled = time.monotonic()

    async def rewind(self, tp: TopicPartition, stored: int) -> None:
        """Redis is behind what was counted: read the partition again from Redis' offset, or from
        the oldest record Kafka still has if that is later. A partition revoked meanwhile resumes
        from Redis' offset at its new member."""
        if tp not in self._consumer.assignment():
            return
        beginning = (await self._consumer.beginning_offsets([tp]))[tp]
        target = max(stored, beginning)
        REWINDS.inc()
        self._logger.warning("redis is behind the batch; rewinding", partition=tp.partition, to=target)
        if target > stored:
            await self._tally.skip_to(tp.topic, tp.partition, target)
        self._consumer.seek(tp, target)
        self._counted_to[tp] = target


@dataclass
class Checkpoint:
    """Writes, then commits, the records of each poll; every write is retried with backoff until
    it succeeds or the consumer stops."""

    settings: Settings
    dead_letters: ReliableProducer
    vote_log: VoteLog
    tally: Tally
    offsets: Offsets
    stopping: asyncio.Event
    _logger: structlog.stdlib.BoundLogger = field(default_factory=structlog.get_logger)
    _catalogue: Catalogue = field(init=False)

    def __post_init__(self) -> None:
        self._catalogue = Catalogue.load(self.settings.catalogue_file)

    async def write(self, polled: dict[TopicPartition, Records]) -> list[PartitionBatch]:
        """Steps 1-3 for every partition of one poll; each starts once the one before it is
        acknowledged for all of them:

        1. decode: split each partition's records into votes and dead letters (not a vote, or a band
           or album not in the catalogue: counted nowhere; with the reason);
        2. dead letters: produce them to the dead-letter topic and await the broker's acks;
        3. log: insert the votes' documents into MongoDB, one insert for the poll (`_id` = vote id:
           a replay inserts nothing).

        Returns the batches, for `count_all`.
        """
        started = time.perf_counter()
        decoded = [self.decode(tp, records) for tp, records in polled.items() if records]
        batches = [batch for batch, _ in decoded]
        dead = [letter for _, letters in decoded for letter in letters]
        if not batches:
            return batches
        started = STAGES.since("decode", started)
        if dead:
            topic = self.settings.dead_letter_topic
            await self.retrying("dead-letter", lambda: self.dead_letters.send_all(topic, dead))
            DEAD_LETTERS.inc(len(dead))
            started = STAGES.since("dead_letters", started)
        await self.log(batches)
        STAGES.since("log_insert", started)
        return batches

    async def count_all(self, batches: list[PartitionBatch]) -> None:
        """Steps 4-5, once `write` returned the batches:

        4. count + offset: per partition, at once, one script counts its votes in Redis and stores
           its next offset; if Redis is behind the batch (it lost its last writes), it changes
           nothing and the partition is rewound to Redis' offset instead, ending there;
        5. Kafka commit of the counted partitions' offsets, for lag monitoring (Redis' are the ones
           that count).

        A crash between two steps replays the partitions from Redis' offsets: the log's `_id` and
        the script's offset and id checks make that replay a no-op.
        """
        if not batches:
            return
        started = time.perf_counter()
        async with asyncio.TaskGroup() as partitions:
            counting = [partitions.create_task(self.count(batch)) for batch in batches]
        started = STAGES.since("count", started)
        ends = {batch.tp: batch.end for batch, ok in zip(batches, counting, strict=True) if ok.result()}
        if ends:
            await self.offsets.commit(ends)
            STAGES.since("commit", started)

    def decode(self, tp: TopicPartition, records: Records) -> tuple[PartitionBatch, list[Record]]:
        """The batch of votes, and the dead letters: each other record, with its reason and source."""
        votes, dead = [], []
        for record in records:
            try:
                vote = AcceptedVote.from_kafka(record.value)
            except ValidationError as error:
                reason = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors()
                )
            else:
                unknown = self._catalogue.vote_errors(vote)
                if not unknown:
                    votes.append((record.offset, vote))
                    continue
                reason = "; ".join(f"{name}: {message}" for name, message in unknown.items())
            source = f"{record.topic}:{record.partition}:{record.offset}"
            self._logger.warning("dead letter", source=source, reason=reason)
            headers = [("reason", reason.encode()), ("source", source.encode())]
            dead.append((record.key, record.value or b"", headers))
        return PartitionBatch(tp, records[0].offset, records[-1].offset + 1, votes), dead

    async def log(self, batches: list[PartitionBatch]) -> None:
        LOGGED.inc(await self.retrying("mongo", lambda: self.vote_log.insert(batches, utc_now())))

    async def count(self, batch: PartitionBatch) -> bool:
        """Count and store the offset; False when Redis was behind and the partition was rewound."""
        counted = await self.retrying("redis", lambda: self.tally.count(batch))
        if (stored := counted.rewind_to) is not None:
            await self.retrying("reconcile", lambda: self.offsets.rewind(batch.tp, stored))
            return False
        COUNTED.inc(counted.votes)
        REPLAYED.inc(len(batch.votes) - counted.votes)
        done = time.time()
        for _, vote in batch.votes:
            FRESHNESS_SECONDS.observe(max(0.0, done - vote.accepted_at.timestamp()))
        self.offsets.counted(batch.tp, batch.end)
        return True

    async def retrying(self, step: str, action: Callable[[], Awaitable[T]]) -> T:
        """Run `action` until it succeeds, backing off on the stores' and Kafka's errors; once the
        consumer is stopping, the last error is raised (the batch is replayed after the restart)."""

        def give_up(state: RetryCallState) -> bool:
            return self.stopping.is_set()

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


async def housekeeping(tally: Tally, stopping: asyncio.Event) -> None:
    """Every 15 s: trim the rate series to its window, and export Redis' memory and the number of
    names counted for the alerts."""
    while not stopping.is_set():
        try:
            await tally.trim_rate()
            used, limit = await tally.memory()
            REDIS_USED_MEMORY.set(used)
            REDIS_MAXMEMORY.set(limit)
            bands, albums = await tally.distinct_names()
            DISTINCT_NAMES.labels(kind="band").set(bands)
            DISTINCT_NAMES.labels(kind="album").set(albums)
        except RedisError as error:
            structlog.get_logger().warning("redis housekeeping failed", error=repr(error))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=HOUSEKEEPING_SECONDS)


async def consume(
    consumer: AIOKafkaConsumer, checkpoint: Checkpoint, settings: Settings, stopping: asyncio.Event
) -> None:
    """Polls until stopping. A poll's counts (Redis) run while the next poll is fetched and logged
    (MongoDB), so that the two stores work at once; a partition's counts still go in offset order,
    each after its log, and the offsets are reconciled only while no count is in flight."""
    counting: asyncio.Task[None] | None = None
    try:
        while not stopping.is_set():
            started = time.perf_counter()
            polled = await consumer.getmany(timeout_ms=500, max_records=settings.consumer_max_records)
            if polled:
                STAGES.since("poll_wait", started)
            written = await checkpoint.write(polled)
            if counting is not None:
                await counting
            # Between counts: a count in flight would store an offset after reconcile read Redis',
            # and the stale read would rewind a partition Redis lost nothing of.
            await checkpoint.retrying("reconcile", checkpoint.offsets.reconcile)
            counting = checkpoint.offsets.counting = asyncio.create_task(checkpoint.count_all(written))
        if counting is not None:
            await counting
    finally:
        if counting is not None and not counting.done():
            counting.cancel()  # its partitions are replayed from Redis' offsets after the restart


async def run(settings: Settings, checkpoint_type: type[Checkpoint] = Checkpoint) -> None:
    logger = configure_process(settings, "consumer")
    stopping = stop_event()
    redis = redis_client(settings, "consumer")
    mongo = mongo_client(settings)
    tally = Tally(redis, settings)
    vote_log = VoteLog(mongo, settings)
    consumer = AIOKafkaConsumer(
        group_id=settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        **login(settings, "consumer"),
    )
    producer = ReliableProducer(settings, "consumer")
    offsets = Offsets(consumer, tally, settings.votes_topic)
    checkpoint = checkpoint_type(settings, producer, vote_log, tally, offsets, stopping)

    async def ready() -> bool:
        try:
            await redis.ping()
        except RedisError:
            return False
        return bool(consumer.assignment()) and not stopping.is_set()

    ops = asyncio.create_task(
        serve_app(
            ops_app("consumer", ready, settings.votemon_version),
            settings.consumer_metrics_bind,
            stopping,
            settings,
        )
    )
    await checkpoint.retrying("mongo", vote_log.ensure_indexes)
    await checkpoint.retrying("redis", tally.backfill_rankings)
    await producer.start()
    await consumer.start()
    consumer.subscribe([settings.votes_topic], listener=offsets)
    trimmer = asyncio.create_task(housekeeping(tally, stopping))
    freeze_startup_objects()
    logger.info("consuming", topic=settings.votes_topic, group=settings.consumer_group)
    try:
        await consume(consumer, checkpoint, settings, stopping)
    except* RETRYABLE as errors:
        if not stopping.is_set():
            raise
        logger.warning("stopped while retrying; the batch will be replayed", error=repr(errors.exceptions))
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

"""Kafka clients with the project's delivery guarantees, and the topics the pipeline needs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    TopicAlreadyExistsError,
    UnknownProducerId,
)
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_delay, wait_fixed

from votemon.settings import Settings


def make_producer(settings: Settings) -> AIOKafkaProducer:
    """An idempotent producer that waits for every in-sync replica: no lost, no duplicated records."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.producer_linger_ms,
        request_timeout_ms=int(settings.produce_timeout_seconds * 1000),
        max_batch_size=512 * 1024,
        client_id="votemon",
    )


# After these the producer's sender task is dead (aiokafka does not reset the producer id).
FATAL_PRODUCER_ERRORS = (OutOfOrderSequenceNumber, UnknownProducerId, ProducerFenced)

Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def _retrieve(delivery: asyncio.Future[object]) -> None:
    """Mark a delivery's late error as seen: its request was already answered with a failure."""
    if not delivery.cancelled():
        delivery.exception()


class ReliableProducer:
    """Sends records and waits for every ack; replaces the idempotent producer when it dies.

    When the broker is away longer than the request timeout, aiokafka expires batches, the
    sequence numbers of the next ones no longer match the broker's, and the producer stops for
    good (OutOfOrderSequenceNumber). Those sends were reported as failures; a fresh producer (new
    producer id) takes the next ones. A client retrying with the same vote ids is still counted once.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._log = structlog.get_logger()

    async def _current(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = make_producer(self._settings)
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _replace(self, broken: AIOKafkaProducer) -> None:
        async with self._lock:
            still_current = self._producer is broken
            if still_current:
                self._producer = None
        if not still_current:
            return  # another request replaced it already
        self._log.warning("replacing the Kafka producer after a fatal error")
        with contextlib.suppress(KafkaError, TimeoutError):
            await asyncio.wait_for(broken.stop(), timeout=self._settings.produce_timeout_seconds)

    async def start(self) -> None:
        """Connect, waiting up to kafka_startup_wait_seconds for the brokers, then stop with a message
        that names Kafka and where it was looked for, not a traceback."""
        servers = self._settings.kafka_bootstrap_servers
        within = self._settings.kafka_startup_wait_seconds

        def waiting(state: RetryCallState) -> None:
            self._log.warning("waiting for Kafka", bootstrap_servers=servers, attempt=state.attempt_number)

        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(KafkaConnectionError),
                stop=stop_after_delay(within),
                wait=wait_fixed(1),
                before_sleep=waiting,
                reraise=True,
            ):
                with attempt:
                    await self._current()
        except KafkaConnectionError as error:
            raise SystemExit(f"Kafka at {servers} did not answer within {within:g} s: {error}") from None

    async def send_all(self, topic: str, records: Sequence[Record]) -> float:
        """Queue every record, then wait for all acks; raises the first delivery error. Returns when
        the last record was queued (time.perf_counter): what came after was linger and acks."""
        producer = await self._current()
        try:
            deliveries = [
                await producer.send(topic, value=value, key=key, headers=headers)
                for key, value, headers in records
            ]
            queued = time.perf_counter()
            for delivery in deliveries:
                delivery.add_done_callback(_retrieve)
            # asyncio.wait, not gather: a caller's timeout must not cancel deliveries already queued.
            await asyncio.wait(deliveries)
            for delivery in deliveries:
                delivery.result()
        except FATAL_PRODUCER_ERRORS:
            await self._replace(producer)
            raise
        return queued

    async def stop(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None


async def create_topics(settings: Settings) -> list[str]:
    """Create the votes topic and its dead-letter topic if missing (in the cluster, Strimzi does it)."""
    config = {"retention.ms": str(settings.topic_retention_ms)}
    wanted = [
        NewTopic(settings.votes_topic, settings.topic_partitions, 1, topic_configs=config),
        NewTopic(settings.dead_letter_topic, 1, 1, topic_configs=config),
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(KafkaConnectionError), stop=stop_after_delay(60), wait=wait_fixed(0.5)
    ):
        with attempt:
            await admin.start()
    created = []
    try:
        existing = set(await admin.list_topics())
        for topic in wanted:
            if topic.name in existing:
                continue
            try:
                await admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    return created


async def run(settings: Settings) -> None:
    """`votemon create-topics`: for the local stack."""
    created = await create_topics(settings)
    print(f"topics created: {', '.join(created) or 'none (they exist)'}")

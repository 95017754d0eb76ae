"""Kafka clients with the project's delivery guarantees, and the topics the pipeline needs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

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
from aiokafka.helpers import create_ssl_context
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_delay, wait_fixed

from votemon.settings import Settings


def login(settings: Settings, user: str) -> dict[str, Any]:
    """aiokafka's options to reach Kafka as `user`: over TLS trusting kafka_ca_file when it is set,
    with SCRAM-SHA-512 and the user's password file in kafka_users_dir when that is set."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": f"votemon-{user}",
    }
    tls = settings.kafka_ca_file is not None
    if tls:
        options["ssl_context"] = create_ssl_context(cafile=str(settings.kafka_ca_file))
    if settings.kafka_users_dir is None:
        return options | {"security_protocol": "SSL" if tls else "PLAINTEXT"}
    password_file = settings.kafka_users_dir / user
    try:
        password = password_file.read_text().strip()
    except OSError as error:
        raise SystemExit(
            f"Kafka user {user}: no password in {password_file} (KAFKA_USERS_DIR): {error}"
        ) from None
    return options | {
        "security_protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


async def wait_for_kafka(
    connect: Callable[[], Awaitable[object]], settings: Settings, user: str, within: float
) -> None:
    """Call `connect` until Kafka lets `user` in, logging each wait, for up to `within` seconds; then
    stop with one line that names Kafka, where it was looked for and as whom, not a traceback.
    (aiokafka reports a refused password as a connection error, and logs the refusal itself.)"""
    servers = settings.kafka_bootstrap_servers
    log = structlog.get_logger()

    def waiting(state: RetryCallState) -> None:
        log.warning("waiting for Kafka", bootstrap_servers=servers, user=user, attempt=state.attempt_number)

    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(KafkaConnectionError),
            stop=stop_after_delay(within),
            wait=wait_fixed(0.5),
            before_sleep=waiting,
            reraise=True,
        ):
            with attempt:
                await connect()
    except KafkaConnectionError as error:
        raise SystemExit(
            f"Kafka at {servers} did not answer user {user} within {within:g} s: {error}"
        ) from None


def make_producer(settings: Settings, user: str) -> AIOKafkaProducer:
    """An idempotent producer that waits for every in-sync replica: no lost, no duplicated records."""
    return AIOKafkaProducer(
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.producer_linger_ms,
        request_timeout_ms=int(settings.produce_timeout_seconds * 1000),
        max_batch_size=512 * 1024,
        **login(settings, user),
    )


# The local stack's super user (stack/stack.sh): topics, and the tests' and the bench's readers. No
# cluster has it: there Strimzi makes the topics, and each service has its own user (base/kafka/users.yaml).
ADMIN = "admin"

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

    def __init__(self, settings: Settings, user: str) -> None:
        self._settings = settings
        self._user = user
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._log = structlog.get_logger()

    async def _current(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = make_producer(self._settings, self._user)
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
        """Connect, waiting up to kafka_startup_wait_seconds for the brokers (wait_for_kafka)."""
        await wait_for_kafka(
            self._current, self._settings, self._user, self._settings.kafka_startup_wait_seconds
        )

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
    admin = AIOKafkaAdminClient(**login(settings, ADMIN))
    await wait_for_kafka(admin.start, settings, ADMIN, within=60)
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

"""Kafka clients with the project's delivery guarantees, and the topics the pipeline needs."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from votemon.settings import Settings


def make_producer(settings: Settings) -> AIOKafkaProducer:
    """An idempotent producer that waits for every in-sync replica: no lost, no duplicated records."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.producer_linger_ms,
        request_timeout_ms=int(settings.produce_timeout_seconds * 1000),
        max_batch_size=256 * 1024,
        client_id="votemon",
    )


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

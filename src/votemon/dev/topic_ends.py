"""The one way the tooling reads how far a topic goes: each partition's end offset (how many records
were ever produced to it), which the tests and the bench compare with the offsets the consumer
stored in Redis. Public aiokafka API only: the admin client's `describe_topics` asks the broker for
the topic's partitions on every read (fresh, so a topic created after `start()` is seen), then a
consumer's `end_offsets`."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from votemon.kafka import ADMIN, login
from votemon.settings import Settings

UNKNOWN_TOPIC = 3  # Kafka's UNKNOWN_TOPIC_OR_PARTITION (topics are never created by a read: the
# brokers of the stack and the cluster have auto.create.topics.enable=false)


class TopicEndsError(RuntimeError):
    """The broker did not describe the topic (e.g. its leader not elected yet): says why. Transient:
    a waiting caller counts it as "not yet"."""


class TopicEnds:
    """The end offsets of a topic's partitions. aiokafka's clients belong to the event loop they are
    created on, so `start()` creates them there: start, read and stop on one loop."""

    def __init__(self, settings: Settings) -> None:
        self._login = login(settings, ADMIN)
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(**self._login)
        await self._admin.start()
        self._consumer = AIOKafkaConsumer(enable_auto_commit=False, **self._login)
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._consumer = None

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partitions; none when it does not exist (nothing was produced to it)."""
        if self._admin is None:
            raise RuntimeError("TopicEnds.start() was not awaited")
        described: list[dict[str, Any]] = await self._admin.describe_topics([topic])
        found = next((t for t in described if t["topic"] == topic), None)
        if found is not None and found["error_code"] == UNKNOWN_TOPIC:
            return []
        if found is None or found["error_code"] != 0:
            error = "not described" if found is None else f"error code {found['error_code']}"
            raise TopicEndsError(f"Kafka did not describe topic {topic!r} ({error})")
        return sorted(p["partition"] for p in found["partitions"])

    async def read(self, topic: str) -> dict[int, int]:
        """Each partition's end offset: {partition: offset}."""
        partitions = await self.partitions(topic)
        if not partitions:
            return {}
        if self._consumer is None:
            raise RuntimeError("TopicEnds.start() was not awaited")
        offsets = await self._consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return {tp.partition: offset for tp, offset in offsets.items()}

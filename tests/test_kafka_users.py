"""The Kafka users of base/kafka/users.yaml, as the local stack creates them, against the real Kafka
(TLS, SCRAM-SHA-512, ACLs): each service's user does its service's work and nothing more (issue 27:
grpc-server cannot read the votes nor write the dead letters, the consumer cannot write votes), and
nobody gets in without the stack's CA, a user and its password."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from tests import support
from votemon.dev.kafka_users import kafka_users
from votemon.kafka import create_topics, login, make_producer
from votemon.settings import Settings

pytestmark = pytest.mark.stack


@pytest.fixture
async def settings() -> AsyncIterator[Settings]:
    """Topics of their own (votes-submitted-test-<run>: under the users' prefixes, as on a cluster)."""
    settings = support.test_settings()
    await create_topics(settings)
    yield settings


async def produced(settings: Settings, user: str, topic: str) -> None:
    producer = make_producer(settings, user)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"vote", key=b"id", partition=0)
    finally:
        await producer.stop()


async def read_one(settings: Settings, user: str, topic: str, group: str | None) -> bytes | None:
    """The first record of partition 0 of `topic`, read as `user` (in `group`, committing nothing)."""
    reader = AIOKafkaConsumer(
        group_id=group, enable_auto_commit=False, auto_offset_reset="earliest", **login(settings, user)
    )
    await reader.start()
    try:
        partition = TopicPartition(topic, 0)
        reader.assign([partition])
        if group is not None:
            await reader.committed(partition)  # the group's offsets: needs Read on the group
        for _ in range(20):
            for records in (await reader.getmany(partition, timeout_ms=500)).values():
                value: bytes | None = records[0].value
                return value
        return None
    finally:
        await reader.stop()


def test_the_stack_has_a_user_per_service_with_a_password_file_of_its_own(settings: Settings) -> None:
    users = [user.metadata.name for user in kafka_users()]
    assert users == ["grpc-server", "consumer"]
    assert settings.kafka_users_dir is not None and settings.kafka_ca_file is not None
    passwords = {user: (settings.kafka_users_dir / user).read_text().strip() for user in [*users, "admin"]}
    assert len(set(passwords.values())) == 3 and all(len(p) >= 32 for p in passwords.values())
    assert all((settings.kafka_users_dir / user).stat().st_mode & 0o077 == 0 for user in passwords)


async def test_grpc_server_writes_votes_and_nothing_else(settings: Settings) -> None:
    await produced(settings, "grpc-server", settings.votes_topic)
    with pytest.raises(TopicAuthorizationFailedError):
        await produced(settings, "grpc-server", settings.dead_letter_topic)
    with pytest.raises(TopicAuthorizationFailedError):
        await read_one(settings, "grpc-server", settings.votes_topic, group=None)


async def test_the_consumer_reads_votes_in_its_group_and_writes_dead_letters(settings: Settings) -> None:
    await produced(settings, "grpc-server", settings.votes_topic)
    assert await read_one(settings, "consumer", settings.votes_topic, settings.consumer_group) == b"vote"
    await produced(settings, "consumer", settings.dead_letter_topic)
    with pytest.raises(TopicAuthorizationFailedError):
        await produced(settings, "consumer", settings.votes_topic)
    with pytest.raises(GroupAuthorizationFailedError):
        await read_one(settings, "consumer", settings.votes_topic, group="another-group")


@pytest.mark.parametrize(
    "refusal",
    ["wrong password", "no user (TLS only)", "no TLS"],
)
async def test_nobody_gets_in_without_the_ca_a_user_and_its_password(
    settings: Settings, tmp_path: Path, refusal: str
) -> None:
    (tmp_path / "consumer").write_text("not-the-password\n")
    changes: dict[str, dict[str, Any]] = {
        "wrong password": {"kafka_users_dir": tmp_path},
        "no user (TLS only)": {"kafka_users_dir": None},
        "no TLS": {"kafka_ca_file": None},
    }
    producer = make_producer(settings.model_copy(update=changes[refusal]), "consumer")
    try:
        with pytest.raises(KafkaConnectionError):
            await producer.start()
    finally:
        await producer.stop()

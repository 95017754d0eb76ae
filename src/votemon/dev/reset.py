"""`make reset`: empty the local stack's data (Redis, the MongoDB databases, the Kafka topics), then
create the pipeline's topics again. Safely: only a stack on this machine (a REDIS_URL, MONGO_URI or
Kafka address elsewhere is refused), with the pipeline stopped first (its consumer holds offsets)."""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit

import pymongo
import redis
from aiokafka.admin import AIOKafkaAdminClient

from votemon.dev.eventually import eventually
from votemon.dev.health import stack_addresses
from votemon.kafka import ADMIN, create_topics, login
from votemon.settings import Settings

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
KEPT_MONGO_DATABASES = {"admin", "config", "local"}


async def delete_topics(settings: Settings) -> list[str]:
    """Every topic but Kafka's own (`__consumer_offsets`...)."""
    admin = AIOKafkaAdminClient(**login(settings, ADMIN))
    await admin.start()
    try:
        topics = sorted(topic for topic in await admin.list_topics() if not topic.startswith("__"))
        if topics:
            await admin.delete_topics(topics)
        return topics
    finally:
        await admin.close()


def reset(settings: Settings) -> None:
    remote = [
        f"{name} {address}"
        for name, address in stack_addresses(settings).items()
        if urlsplit(f"//{address}").hostname not in LOCAL_HOSTS
    ]
    if remote:
        sys.exit(f"reset empties only a stack on this machine; these are elsewhere: {', '.join(remote)}")
    counters = redis.Redis.from_url(settings.redis_url)
    counters.flushall()
    counters.close()
    print(">> Redis: every database emptied")
    mongo: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(settings.mongo_uri)
    dropped = [name for name in mongo.list_database_names() if name not in KEPT_MONGO_DATABASES]
    for name in dropped:
        mongo.drop_database(name)
    mongo.close()
    print(f">> MongoDB (FerretDB): {len(dropped)} databases dropped")
    topics = asyncio.run(delete_topics(settings))
    print(f">> Kafka: {len(topics)} topics deleted")
    created = eventually(
        lambda: asyncio.run(create_topics(settings)),
        "the pipeline's topics were not created again after the deletion",
        within=60,
        interval=0.5,
        ignoring=(Exception,),
    )
    print(f">> Kafka: {', '.join(created)} created again, empty")

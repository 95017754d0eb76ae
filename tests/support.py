"""Helpers of the tests over the real local stack: a Kafka probe, the session's pipeline, votes, and
waits on facts (not on the clock). Plain module: the fixtures in conftest.py use it, tests import it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pymongo
import redis
import tenacity
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from bench.seed import count_votes
from tests.services import Service, free_port, test_settings
from votemon.kafka import create_topics
from votemon.settings import Settings
from votemon.store import tally
from votemon.store.tally import Tally, redis_client
from votemon.votes import utc_now

T = TypeVar("T")


class KafkaProbe:
    """A Kafka client on its own event loop thread, for synchronous tests to read topic ends."""

    def __init__(self, settings: Settings) -> None:
        self._bootstrap = settings.kafka_bootstrap_servers
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        async def connect() -> AIOKafkaConsumer:
            consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
            await consumer.start()
            return consumer

        self._consumer = self.call(connect())

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Each partition's end offset: how many records were ever produced to it."""

        async def ends() -> dict[int, int]:
            await self._consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for p in sorted(self._consumer.partitions_for_topic(topic) or [])
            ]
            offsets = await self._consumer.end_offsets(partitions)
            return {tp.partition: offset for tp, offset in offsets.items()}

        return self.call(ends())

    def produce(self, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
        """Write raw (key, value) records, as a faulty or foreign producer would."""

        async def send() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all")
            await producer.start()
            try:
                for key, value in records:
                    await producer.send_and_wait(topic, value=value, key=key)
            finally:
                await producer.stop()

        self.call(send())

    def read(self, topic: str, count: int, timeout: float = 20) -> list[ConsumerRecord[bytes, bytes]]:
        """The first `count` records of a topic (all partitions), waiting up to `timeout` for them."""

        async def fetch() -> list[ConsumerRecord[bytes, bytes]]:
            reader = AIOKafkaConsumer(topic, bootstrap_servers=self._bootstrap, auto_offset_reset="earliest")
            await reader.start()
            found: list[ConsumerRecord[bytes, bytes]] = []
            try:
                async with asyncio.timeout(timeout):
                    while len(found) < count:
                        for records in (await reader.getmany(timeout_ms=500)).values():
                            found.extend(records)
            except TimeoutError:
                pass
            finally:
                await reader.stop()
            return found

        return self.call(fetch())

    def close(self) -> None:
        self.call(self._consumer.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


@dataclass
class Pipeline:
    """The four services of one test session, and clients to check what they wrote."""

    settings: Settings
    services: dict[str, Service]
    redis: redis.Redis
    mongo: pymongo.MongoClient[dict[str, Any]]
    http: httpx.Client
    kafka: KafkaProbe

    @property
    def front(self) -> str:
        return self.services["front"].base_url

    @property
    def results(self) -> str:
        return self.services["results"].base_url

    @property
    def logs(self) -> pymongo.collection.Collection[dict[str, Any]]:
        return self.mongo[self.settings.mongo_database]["logs"]

    def post(self, body: Any, path: str = "/grpc") -> httpx.Response:
        return self.http.post(f"{self.front}{path}", json=body)

    def band_count(self, band: str) -> int:
        return int(self.redis.hget(tally.BY_BAND, band) or 0)

    def wait_band_count(self, band: str, timeout: float = 30) -> int:
        """The band's count once the consumer has counted everything the topic holds (a vote answered
        202 is in the topic): no vote is still on its way, and a late double count would show."""
        wait_caught_up(self.redis, self.kafka, self.settings.votes_topic, timeout)
        return self.band_count(band)

    def produced(self) -> int:
        return sum(self.kafka.end_offsets(self.settings.votes_topic).values())


class StackNotRunningError(RuntimeError):
    """Kafka, Redis or FerretDB is not there: `make stack` starts them."""


@contextlib.contextmanager
def running_pipeline(settings: Settings) -> Iterator[Pipeline]:
    """The four services, started as processes over the local stack with `settings` (topics, database
    and ports of their own); at the end each must exit 0 on SIGTERM, and the run's log database goes."""
    try:
        asyncio.run(asyncio.wait_for(create_topics(settings), timeout=30))
    except Exception as error:
        raise StackNotRunningError(
            f"the local stack is not running (start it with `make stack`): {error!r}"
        ) from error
    redis_client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    redis_client.flushdb()
    mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.mongo_uri, tz_aware=True)
    services = {
        name: Service(name, settings).start() for name in ("grpc-server", "consumer", "results", "front")
    }
    try:
        for service in services.values():
            service.wait_ready()
    except (RuntimeError, TimeoutError):
        for service in services.values():
            service.stop()
        raise
    kafka = KafkaProbe(settings)
    try:
        with httpx.Client(timeout=10) as http:
            yield Pipeline(settings, services, redis_client, mongo, http, kafka)
    finally:
        kafka.close()
        exits = {name: service.stop() for name, service in services.items()}
        mongo.drop_database(settings.mongo_database)
        mongo.close()
    assert exits == dict.fromkeys(services, 0), f"SIGTERM must end every service cleanly: {exits}"


def unique_band(prefix: str = "Band") -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def vote(band: str, album: str = "Album", **fields: Any) -> dict[str, Any]:
    return {"name": band, "album": album, "year": "1997", "rank": "9.5", **fields}


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `condition` until it returns something true, and return it; fail saying `what` did not
    happen within `timeout` seconds."""
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_not_result(bool),
    )
    try:
        return retrying(condition)
    except tenacity.RetryError:
        raise AssertionError(f"{what} within {timeout} s") from None


def stored_offsets(counters: redis.Redis, topic: str) -> dict[int, int]:
    """The next offset to count of each partition, as the consumer stored it in Redis with its counts."""
    prefix = f"{topic}:"
    found = {}
    for field, offset in counters.hgetall(tally.OFFSETS).items():
        name = field.decode() if isinstance(field, bytes) else str(field)
        if name.startswith(prefix):
            found[int(name.removeprefix(prefix))] = int(offset)
    return found


def wait_caught_up(counters: redis.Redis, kafka: KafkaProbe, topic: str, timeout: float = 30) -> None:
    """Wait until the offsets stored in Redis equal the topic's end offsets: every record the topic
    holds has been counted (or dead-lettered), so counts are final until something new is sent."""

    def caught_up() -> bool:
        ends = kafka.end_offsets(topic)
        stored = stored_offsets(counters, topic)
        return all(stored.get(partition, 0) == end for partition, end in ends.items())

    wait_until(caught_up, timeout, f"the consumer did not count everything in {topic}")


def store_settings(database: int, **overrides: Any) -> Settings:
    """Settings for a results service or a counting step on Redis database `database` of the test
    Redis server, with MongoDB at a closed port: whatever works then never reads the vote log."""
    redis_server = test_settings().redis_url.rsplit("/", 1)[0]
    return test_settings(
        redis_url=f"{redis_server}/{database}", mongo_uri=f"mongodb://127.0.0.1:{free_port()}/", **overrides
    )


def count(settings: Settings, start: int, stop: int, prefix: str, partition: int = 0) -> int:
    """Count generated votes [start, stop) with the consumer's own script (bench/seed.py), the
    newest accepted now; returns how many were counted. Runs its own event loop on a thread of
    its own, so it also works beside Playwright's."""

    async def run() -> int:
        client = redis_client(settings)
        try:
            return await count_votes(Tally(client, settings), start, stop, utc_now(), stop, prefix, partition)
        finally:
            await client.aclose()

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, run()).result()


@dataclass
class LargeStore:
    """Redis database 11 holding what the consumer leaves after counting `votes` votes."""

    settings: Settings
    client: redis.Redis
    votes: int
    prefix: str

    def newest_ids(self, n: int) -> list[str]:
        return [f"{self.prefix}-{i:010d}" for i in range(self.votes - 1, self.votes - 1 - n, -1)]

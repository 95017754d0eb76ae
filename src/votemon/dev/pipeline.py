"""The four services over a stack, with clients to check what they wrote: a Kafka probe, Redis,
MongoDB and HTTP. The tests, the fault tests and the page's benchmark all run this one pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import pymongo
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from anyio.from_thread import start_blocking_portal

from votemon.dev.eventually import eventually
from votemon.dev.processes import LOGS, TEST_BAND_PREFIX, Service, free_port, start_services
from votemon.dev.topic_ends import TopicEnds, TopicEndsError
from votemon.kafka import ADMIN, create_topics, login
from votemon.settings import Settings
from votemon.store import tally

T = TypeVar("T")
CALL_TIMEOUT_S = 60  # one call on the probe's loop: well above aiokafka's own request timeout


class KafkaProbe:
    """Kafka for synchronous callers (the tests): an event loop in a thread of its own (anyio's
    blocking portal), on which its clients are created and used. The topic ends are
    votemon.dev.topic_ends's, as the bench reads them."""

    def __init__(self, settings: Settings) -> None:
        self._login = login(settings, ADMIN)
        self._exit = contextlib.ExitStack()
        self._portal = self._exit.enter_context(start_blocking_portal())
        self._ends = TopicEnds(settings)
        try:
            self.call(self._ends.start)
        except BaseException:
            with contextlib.suppress(Exception):
                self.call(self._ends.stop)
            self._exit.close()
            raise

    def call(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `function(*args)` on the probe's loop, bounded: a broker that hangs fails the caller."""

        async def bounded() -> T:
            with anyio.fail_after(CALL_TIMEOUT_S):
                return await function(*args)

        return self._portal.call(bounded)

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Each partition's end offset: how many records were ever produced to it."""
        return self.call(self._ends.read, topic)

    def produce(self, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
        """Write raw (key, value) records, as a faulty or foreign producer would."""

        async def send() -> None:
            producer = AIOKafkaProducer(acks="all", **self._login)
            await producer.start()
            try:
                sent = [await producer.send(topic, value=value, key=key) for key, value in records]
                await asyncio.gather(*sent)
            finally:
                await producer.stop()

        self.call(send)

    def read(self, topic: str, count: int, *, timeout: float = 20) -> list[ConsumerRecord[bytes, bytes]]:
        """The first `count` records of a topic (all partitions), waiting up to `timeout` for them."""

        async def fetch() -> list[ConsumerRecord[bytes, bytes]]:
            reader = AIOKafkaConsumer(topic, auto_offset_reset="earliest", **self._login)
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

        return self.call(fetch)

    def close(self) -> None:
        try:
            self.call(self._ends.stop)
        finally:
            self._exit.close()


@dataclass
class Pipeline:
    """The four services of one run, each restartable, and clients to check what they wrote."""

    settings: Settings
    services: dict[str, Service]
    redis: redis.Redis
    mongo: pymongo.MongoClient[dict[str, Any]]
    http: httpx.Client
    kafka: KafkaProbe
    logs_directory: Path
    commands: Mapping[str, Sequence[str]] = field(default_factory=dict)  # run instead of `votemon <name>`
    extra: list[Service] = field(default_factory=list)  # consumers added beside the first

    @property
    def front(self) -> str:
        return self.services["front"].base_url

    @property
    def results(self) -> str:
        return self.services["results"].base_url

    @property
    def logs(self) -> pymongo.collection.Collection[dict[str, Any]]:
        return self.mongo[self.settings.mongo_database]["logs"]

    @property
    def integrator_headers(self) -> dict[str, str]:
        """The run's integrator token (isolated_settings makes one up): batches over the anonymous
        limit need it."""
        tokens = self.settings.integrator_tokens
        return {"Authorization": f"Bearer {tokens.get_secret_value().split(',')[0]}"} if tokens else {}

    def post(self, body: Any, path: str = "/grpc") -> httpx.Response:
        """POST as an integrator: any batch up to the front's maximum."""
        return self.http.post(f"{self.front}{path}", json=body, headers=self.integrator_headers)

    def band_count(self, band: str) -> int:
        return int(self.redis.hget(tally.BY_BAND, band) or 0)

    def wait_band_count(self, band: str, *, timeout: float = 30) -> int:
        """The band's count once the consumer has counted everything the topic holds (a vote answered
        202 is in the topic): no vote is still on its way, and a late double count would show."""
        wait_caught_up(self.redis, self.kafka, self.settings.votes_topic, timeout=timeout)
        return self.band_count(band)

    def produced(self) -> int:
        return sum(self.kafka.end_offsets(self.settings.votes_topic).values())

    def revive_ended(self) -> dict[str, str]:
        """Restart each service that is no longer running; return, per service restarted, how it ended
        (its exit code and the end of its log)."""
        ended: dict[str, str] = {}
        for name, service in self.services.items():
            process = service.process
            if process is not None and process.poll() is None:
                continue
            ended[name] = (
                f"exit code {None if process is None else process.returncode}:\n{service.log_tail()}"
            )
            service.restart()
        return ended

    def add_consumer(self) -> Service:
        """One more member of the consumer group, ready."""
        settings = self.settings.model_copy(update={"consumer_metrics_bind": f"127.0.0.1:{free_port()}"})
        command = self.commands.get("consumer", ())
        name = f"consumer-{len(self.extra) + 2}"
        consumer = Service("consumer", settings, self.logs_directory, command, log_name=name).restart()
        self.extra.append(consumer)
        return consumer


class StackNotRunningError(RuntimeError):
    """Kafka, Redis or FerretDB is not there: `make stack` starts them."""


@contextlib.contextmanager
def running_pipeline(
    settings: Settings, logs: Path = LOGS / "tests", commands: Mapping[str, Sequence[str]] | None = None
) -> Iterator[Pipeline]:
    """The four services (see `start_services` for `commands`), started as processes over the stack
    `settings` name (with topics, database and ports of their own); at the end each must exit 0 on
    SIGTERM, and the run's log database goes."""
    try:
        asyncio.run(asyncio.wait_for(create_topics(settings), timeout=30))
    except Exception as error:
        raise StackNotRunningError(
            f"the local stack is not running (start it with `make stack`): {error!r}"
        ) from error
    counters = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    counters.flushdb()
    mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.mongo_uri, tz_aware=True)
    services = start_services(settings, logs, commands)
    http, kafka = httpx.Client(timeout=10), KafkaProbe(settings)
    pipeline = Pipeline(settings, services, counters, mongo, http, kafka, logs, dict(commands or {}))
    try:
        yield pipeline
    finally:
        pipeline.http.close()
        pipeline.kafka.close()
        exits = {name: services[name].stop() for name in reversed(services)}
        for consumer in pipeline.extra:
            consumer.stop()
        mongo.drop_database(settings.mongo_database)
        mongo.close()
        counters.close()
    unclean = {name: code for name, code in exits.items() if code != 0}
    assert not unclean, f"SIGTERM must end every service cleanly: {exits}\n" + "\n".join(
        f"--- the end of {services[name].log_path}:\n{services[name].log_tail()}" for name in unclean
    )


def unique_band(prefix: str = "Band") -> str:
    """A band no other test votes for, that the tests' catalogue admits (with any album)."""
    return f"{TEST_BAND_PREFIX}{prefix} {uuid.uuid4().hex[:10]}"


def vote(band: str, album: str = "Album", **fields: Any) -> dict[str, Any]:
    return {"name": band, "album": album, "year": "1997", "rank": "9.5", **fields}


def stored_offsets(counters: redis.Redis, topic: str) -> dict[int, int]:
    """The next offset to count of each partition, as the consumer stored it in Redis with its counts."""
    prefix = f"{topic}:"
    found = {}
    for name, offset in counters.hgetall(tally.OFFSETS).items():
        key = name.decode() if isinstance(name, bytes) else str(name)
        if key.startswith(prefix):
            found[int(key.removeprefix(prefix))] = int(offset)
    return found


def wait_caught_up(counters: redis.Redis, kafka: KafkaProbe, topic: str, *, timeout: float = 30) -> None:
    """Wait until the offsets stored in Redis equal the topic's end offsets: every record the topic
    holds has been counted (or dead-lettered), so counts are final until something new is sent."""

    def caught_up() -> bool:
        ends = kafka.end_offsets(topic)
        stored = stored_offsets(counters, topic)
        return all(stored.get(partition, 0) == end for partition, end in ends.items())

    what = f"the consumer did not count everything in {topic}"
    eventually(caught_up, what, within=timeout, ignoring=(TopicEndsError,))

"""What the bench needs of the pipeline: its processes (votemon.dev's harness), the bench's settings
and asynchronous probes of the pipeline's state while a load runs."""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Iterator

import httpx
from redis.asyncio import Redis
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from votemon.dev.processes import ROOT, Service, environment, free_port, isolated_settings, start_services
from votemon.dev.prometheus_text import Observed, parse_histograms
from votemon.dev.redis_databases import RedisDatabase, redis_url
from votemon.dev.topic_ends import TopicEnds, TopicEndsError
from votemon.runtime import GC_PAUSES_METRIC
from votemon.settings import Settings
from votemon.store import tally

__all__ = [
    "FRESHNESS",
    "FRESHNESS_STAGES",
    "REQUEST",
    "ROOT",
    "VOTE_STAGES",
    "WORK",
    "Probe",
    "Service",
    "bench_settings",
    "environment",
    "free_port",
    "gc_pauses",
    "pipeline",
]

WORK = ROOT / ".local" / "bench"

# What the probe reads of /metrics: each service's stages (votemon.stages), named "<service> <stage>",
# its collector's pauses (votemon.runtime.GC_PAUSES_METRIC), named "<service> gc_gen<generation>", and the
# wholes they make up, by the service and the histogram that times them.
WHOLES = {
    "front request": ("front", "votes_http_request_seconds"),
    "consumer freshness": ("consumer", "votes_freshness_seconds"),
}
REQUEST, FRESHNESS = WHOLES


def gc_pause(service: str, generation: int | str) -> str:
    return f"{service} gc_gen{generation}"


def gc_pauses(*services: str) -> tuple[str, ...]:
    """The processes' collections, youngest generation first: they hold every stage a process is in
    at the time."""
    return tuple(gc_pause(service, generation) for service in services for generation in range(3))


# a single vote's stages in order; the grpc-server's are inside the front's grpc_call
VOTE_STAGES = (
    "front read_parse",
    "front admission",
    "front coalescer_wait",
    "front grpc_call",
    "grpc checks",
    "grpc enqueue",
    "grpc linger_ack",
    "front reply",
    *gc_pauses("front", "grpc"),
)
# from the vote's acceptance (stamped before enqueue) to its count; the commit comes after
FRESHNESS_STAGES = (
    "grpc enqueue",
    "grpc linger_ack",
    "consumer poll_wait",
    "consumer decode",
    "consumer dead_letters",
    "consumer log_insert",
    "consumer count",
    "consumer commit",
    *gc_pauses("consumer"),
)


# The bench's own Redis databases (votemon.dev.redis_databases): the tests' and the demo's are never touched.
BENCH_REDIS_URL = redis_url(RedisDatabase.BENCH_PIPELINE)
FLOORS_REDIS_URL = redis_url(RedisDatabase.BENCH_FLOORS)


def bench_settings() -> Settings:
    run = uuid.uuid4().hex[:8]
    return isolated_settings(
        votes_topic=f"votes-submitted-bench-{run}",
        dead_letter_topic=f"votes-dead-letter-bench-{run}",
        consumer_group=f"vote-counter-bench-{run}",
        redis_url=BENCH_REDIS_URL,
        mongo_database=f"votes_bench_{run}",
        grpc_deadline_seconds=5.0,
        produce_timeout_seconds=4.0,
        # the bench measures the pipeline's capacity, not the anonymous cap: its batches of 100
        # are sent by one client without a token
        front_anonymous_max_votes=1000,
    )


@contextlib.contextmanager
def pipeline(settings: Settings) -> Iterator[dict[str, Service]]:
    """Every service of the pipeline as a process, ready; stopped on the way out."""
    services = start_services(settings, WORK / "log")
    try:
        yield services
    finally:
        for service in reversed(services.values()):
            service.stop()


class Probe:
    """Reads the topic ends from Kafka (votemon.dev.topic_ends, as the tests do), the counted offsets
    and total from Redis, the consumer's metrics. Its clients are created in `start()`, on the loop
    that uses them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = Redis.from_url(settings.redis_url, decode_responses=True)
        self.ends = TopicEnds(settings)

    async def start(self) -> None:
        await self.ends.start()

    async def close(self) -> None:
        await self.ends.stop()
        await self.redis.aclose()

    async def lag(self) -> int:
        """Records in the votes topic not yet counted in Redis."""
        topic = self.settings.votes_topic
        ends = await self.ends.read(topic)
        if not ends:
            return 0
        counted = await self.redis.hmget(tally.OFFSETS, [tally.partition_field(topic, p) for p in ends])
        return int(sum(ends.values())) - sum(int(v or 0) for v in counted)

    async def redis_total(self) -> int:
        total = await self.redis.get(tally.TOTAL)
        return int(total or 0)

    async def metrics(self, bind: str) -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://{bind}/metrics", timeout=5)).text

    async def histograms(self) -> dict[str, Observed]:
        """The stage histograms of the front, the grpc-server and the consumer, and WHOLES."""
        binds = {
            "front": self.settings.front_bind,
            "grpc": self.settings.grpc_metrics_bind,
            "consumer": self.settings.consumer_metrics_bind,
        }
        pages = {service: await self.metrics(bind) for service, bind in binds.items()}
        found = {
            f"{service} {stage}": seen
            for service, text in pages.items()
            for stage, seen in parse_histograms(text, f"votemon_{service}_stage_seconds", "stage").items()
        }
        found |= {
            gc_pause(service, generation): seen
            for service, text in pages.items()
            for generation, seen in parse_histograms(text, GC_PAUSES_METRIC, "generation").items()
        }
        for name, (service, histogram) in WHOLES.items():
            found[name] = parse_histograms(pages[service], histogram)[""]
        return found

    async def wait_drained(self, *, limit: float = 90) -> float:
        """Wait until the consumer counted everything produced; the seconds it took (NaN: not in `limit`)."""
        started = time.monotonic()
        polls = AsyncRetrying(
            # a topic not described yet (TopicEndsError) is "not drained yet", as is a positive lag
            retry=retry_if_result(lambda lag: lag > 0) | retry_if_exception_type(TopicEndsError),
            stop=stop_after_delay(limit),
            wait=wait_fixed(0.05),
        )
        try:
            await polls(self.lag)
        except RetryError:
            return math.nan
        return time.monotonic() - started

"""No vote lost, none counted twice: each fault strikes during a known load on a stack of its own,
and at the end Redis and MongoDB hold exactly the votes answered 202."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis

from tests.faults import (
    FaultStack,
    VoteLoad,
    assert_counted_exactly_once,
    broken_consumer,
    counted,
    wait_counting,
)
from votemon.dev.eventually import eventually
from votemon.dev.pipeline import Pipeline, running_pipeline

pytestmark = pytest.mark.fault


@pytest.fixture(scope="module")
def stack() -> Iterator[FaultStack]:
    stack = FaultStack()
    stack.up()
    yield stack
    stack.down()


@pytest.fixture
def pipeline(stack: FaultStack) -> Iterator[Pipeline]:
    stack.restore()  # a test may have left a server down
    with running_pipeline(stack.settings(), commands=broken_consumer()) as pipeline:
        yield pipeline


def test_consumer_killed_mid_batch_then_restarted(pipeline: Pipeline) -> None:
    # The load goes on until both rounds are done: a killed member holds the group until its session
    # times out, so each restart takes seconds, and each round must still find votes arriving.
    rounds_done = threading.Event()
    load = VoteLoad(pipeline.front, count=300, until=rounds_done, requests_per_second=30).start()
    consumer = pipeline.services["consumer"]
    for _ in range(2):
        progress = load.progress() + 50
        load.wait_progress(progress)
        consumer.kill()  # a backlog builds up meanwhile
        load.wait_progress(progress + 200)
        before = counted(pipeline.settings)
        consumer.start()
        wait_counting(pipeline.settings, above=before + 40)
        consumer.kill()  # mid-way through the backlog, in batches of 50: mid-batch
        consumer.restart()
    rounds_done.set()
    load.finish()
    assert_counted_exactly_once(pipeline.settings, load)


def test_two_consumers_one_killed_the_survivor_takes_over(pipeline: Pipeline) -> None:
    first = pipeline.services["consumer"]
    second = pipeline.add_consumer()
    load = VoteLoad(pipeline.front, count=900, requests_per_second=80).start()
    load.wait_progress(250)
    first.kill()
    second.kill()  # a backlog builds up meanwhile
    load.wait_progress(500)
    before = counted(pipeline.settings)
    first.start()
    second.start().wait_ready()
    wait_counting(pipeline.settings, above=before + 40)
    second.kill()  # the survivor takes its partitions, mid-backlog
    load.finish()
    assert_counted_exactly_once(pipeline.settings, load)


def test_clients_that_lost_their_202_send_again_and_each_vote_counts_once(pipeline: Pipeline) -> None:
    # Each resent vote is a second record at a new offset: only the vote id tells the two apart.
    load = VoteLoad(pipeline.front, count=300, requests_per_second=60, resend_every=3).start()
    load.finish()
    assert_counted_exactly_once(pipeline.settings, load)


@dataclass
class Outage:
    """A load through which one server of the stack is stopped (SIGTERM) for a while."""

    load: VoteLoad
    down_since: float
    down_until: float


def through_outage(
    stack: FaultStack, pipeline: Pipeline, server: str, seconds: float, after: int, count: int = 700
) -> Outage:
    """Send at least `count` votes; once `after` are acknowledged, stop `server` for `seconds`, then start
    it again. The load goes on until 100 more votes are acknowledged after the restart, however long the
    server took to stop."""
    restarted = threading.Event()
    load = VoteLoad(pipeline.front, count=count, requests_per_second=70, until=restarted).start()
    load.wait_progress(after)
    stack.stop(server)
    down_since = time.monotonic()
    time.sleep(seconds)
    down_until = time.monotonic()
    stack.up()
    load.wait_progress(load.progress() + 100)
    restarted.set()
    load.finish()
    return Outage(load, down_since, down_until)


def test_broker_down_answers_503_then_every_202_is_counted_once(
    stack: FaultStack, pipeline: Pipeline
) -> None:
    # Requests wait up to the produce timeout (2 s) before their 503: 7 s leaves room for several.
    outage = through_outage(stack, pipeline, "kafka", seconds=7, after=200)
    during = [a for a in outage.load.answers if outage.down_since < a.started and a.ended < outage.down_until]
    assert during, "no request was sent while the broker was down"
    assert all(a.status == 503 for a in during), {a.status for a in during}
    assert all(a.retry_after for a in during)
    assert_counted_exactly_once(pipeline.settings, outage.load)


def test_redis_restarted(stack: FaultStack, pipeline: Pipeline) -> None:
    # SIGTERM: Redis saves a snapshot on the way out.
    outage = through_outage(stack, pipeline, "redis", seconds=1, after=300)
    assert_counted_exactly_once(pipeline.settings, outage.load)


def test_redis_killed_without_final_save_loses_recent_counts_and_recounts_them(
    stack: FaultStack, pipeline: Pipeline
) -> None:
    load = VoteLoad(pipeline.front, count=900, requests_per_second=80).start()
    load.wait_progress(250)
    with redis.Redis.from_url(pipeline.settings.redis_url) as counters:
        counters.bgsave()
        saved = counters.lastsave()
        eventually(lambda: counters.lastsave() != saved, "Redis saved no snapshot", within=30, interval=0.05)
    load.wait_progress(550)
    stack.kill("redis")  # everything counted since the snapshot is gone, offsets with it
    stack.up()
    load.finish()
    assert_counted_exactly_once(pipeline.settings, load)
    metrics = httpx.get(f"{pipeline.services['consumer'].base_url}/metrics", timeout=5).text
    assert re.search(r"^votes_consumer_rewinds_total [1-9]", metrics, re.MULTILINE), "no rewind happened"


def test_mongo_unavailable_the_consumer_waits_and_catches_up(stack: FaultStack, pipeline: Pipeline) -> None:
    outage = through_outage(stack, pipeline, "ferretdb", seconds=5, after=200)
    assert_counted_exactly_once(pipeline.settings, outage.load)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_grpc_server_restarted_during_load(pipeline: Pipeline, sig: signal.Signals) -> None:
    load = VoteLoad(pipeline.front, count=700, requests_per_second=70).start()
    load.wait_progress(250)
    server = pipeline.services["grpc-server"]
    code = server.stop(sig)
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    server.restart()
    load.finish()
    assert_counted_exactly_once(pipeline.settings, load)


def test_sigterm_to_each_service_during_load_exits_0_and_loses_nothing(pipeline: Pipeline) -> None:
    load = VoteLoad(pipeline.front, count=1000, requests_per_second=60).start()
    for n, name in enumerate(("front", "grpc-server", "consumer", "results")):
        load.wait_progress(150 * (n + 1))
        service = pipeline.services[name]
        assert service.stop(signal.SIGTERM) == 0, f"{name} did not exit 0 on SIGTERM; log: {service.log_path}"
        service.restart()
    load.finish()
    assert_counted_exactly_once(pipeline.settings, load)

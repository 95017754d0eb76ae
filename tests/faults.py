"""Support for the fault tests: a stack of their own to break, and a load that records its answers.

The fault tests stop Kafka, Redis and FerretDB, so they run a second stack (stack/stack.sh with
other ports and another data folder) and never disturb the session's shared one.
"""

from __future__ import annotations

import collections
import itertools
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pymongo
import redis

from tests.support import test_settings
from votemon.dev.eventually import eventually
from votemon.dev.pipeline import KafkaProbe, unique_band, wait_caught_up
from votemon.dev.processes import LOGS, ROOT, environment, free_port, stack_logins
from votemon.settings import Settings
from votemon.store import tally


def broken_consumer() -> dict[str, tuple[str, ...]]:
    """The consumer named by BROKEN_CONSUMER (tests/broken_consumers.py) in place of the real one:
    `BROKEN_CONSUMER=no-dedupe pytest tests/test_faults.py` must fail."""
    broken = os.environ.get("BROKEN_CONSUMER")
    return {"consumer": (sys.executable, "-m", "tests.broken_consumers", broken)} if broken else {}


class FaultStack:
    """Kafka, Redis and FerretDB on free ports, with data under .local/faults-<id>."""

    def __init__(self) -> None:
        self.directory = ROOT / ".local" / f"faults-{uuid.uuid4().hex[:6]}"
        self._redis_server = f"redis://127.0.0.1:{free_port()}"
        self._servers = test_settings(
            kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
            redis_url=f"{self._redis_server}/0",
            mongo_uri=f"mongodb://127.0.0.1:{free_port()}/",
        )
        self._controller_port = free_port()
        self._databases = iter(range(16))
        self._stopped: set[str] = set()  # the servers a test stopped or killed, and not started again

    def _stack(self, *args: str) -> None:
        env = environment(self._servers) | {
            "KAFKA_CONTROLLER_PORT": str(self._controller_port),
            "STACK_DIR": str(self.directory),
            "REDIS_PERSISTENCE": "snapshot",  # a Redis crash loses what came after its last snapshot
        }
        subprocess.run([str(ROOT / "stack" / "stack.sh"), *args], check=True, env=env, timeout=180)

    def up(self) -> None:
        """Start whatever of the three is not running, and wait until each is ready."""
        self._stack("up")
        self._stopped.clear()

    def restore(self) -> None:
        """`up`, only when a test left a server down: the stack's `up` takes seconds even when all run."""
        if self._stopped:
            self.up()

    def stop(self, name: str) -> None:
        self._stopped.add(name)
        self._stack("stop", name)

    def kill(self, name: str) -> None:
        self._stopped.add(name)
        self._stack("kill", name)

    def down(self) -> None:
        self._stack("down")
        shutil.copytree(self.directory / "log", LOGS / "tests" / self.directory.name, dirs_exist_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)

    def settings(self) -> Settings:
        """Fresh topics, group and databases on this stack: each test starts from zero."""
        return test_settings(
            kafka_bootstrap_servers=self._servers.kafka_bootstrap_servers,
            redis_url=f"{self._redis_server}/{next(self._databases)}",
            mongo_uri=self._servers.mongo_uri,
            consumer_max_records=50,  # many small batches: a kill lands mid-batch
            **stack_logins(self.directory),
        )


@dataclass
class Answer:
    started: float
    ended: float
    status: int | None  # None: no HTTP answer (connection refused or reset)
    retry_after: str | None


@dataclass
class VoteLoad:
    """Sends `count` votes with client-chosen ids, in requests of 1 and 5 votes, paced, from a thread;
    given `until`, it goes on past `count` until that event is set, so a fault of any length (a broker's
    shutdown takes seconds on a busy machine) happens while votes are being sent.

    A request answered 503 (or not answered) is sent again with the same ids, as the API tells
    clients to, until it is answered 202; so at the end every vote is acknowledged exactly once.
    """

    front: str
    count: int
    until: threading.Event | None = None
    requests_per_second: float = 60
    resend_every: int = 0  # every n-th request is sent again after its 202: a client that lost the answer
    bands: tuple[str, str] = field(
        default_factory=lambda: (unique_band("Fault"), unique_band("Сплин ロック"))
    )
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    sent: int = 0
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def requests(self) -> Iterator[list[dict[str, Any]]]:
        """The requests' bodies, alternately of 1 and 5 votes, each vote counted in `sent` once made."""
        run = uuid.uuid4().hex[:6]
        for n in itertools.count():
            if self.sent >= self.count and (self.until is None or self.until.is_set()):
                return
            size = 5 if n % 2 else 1
            if self.until is None:
                size = min(size, self.count - self.sent)
            yield [self.vote(run, i) for i in range(self.sent, self.sent + size)]
            self.sent += size

    def vote(self, run: str, i: int) -> dict[str, Any]:
        return {
            "id": f"{run}-{i}",
            "name": self.bands[i % 2],
            "album": f"Álbum {i % 3}",
            "year": 1990 + i % 30,
            "rank": f"{i % 10}.5",
        }

    def _send(self, client: httpx.Client, body: list[dict[str, Any]], deadline: float) -> None:
        """Send one request until it is answered 202, 0.2 s after each 503 or missing answer."""
        payload: Any = body[0] if len(body) == 1 else body

        def acknowledged() -> bool:
            started = time.monotonic()
            try:
                reply = client.post(f"{self.front}/grpc", json=payload)
            except httpx.TransportError:
                self.answers.append(Answer(started, time.monotonic(), None, None))
                return False
            self.answers.append(
                Answer(started, time.monotonic(), reply.status_code, reply.headers.get("retry-after"))
            )
            assert reply.status_code in {202, 503}, reply.text
            assert reply.json()["ids"] == [v["id"] for v in body]
            if reply.status_code == 503:
                return False
            self.acknowledged.update({v["id"]: v for v in body})
            return True

        remaining = deadline - time.monotonic()
        eventually(
            acknowledged,
            "a request was not acknowledged before the load's deadline",
            within=remaining,
            interval=0.2,
        )

    def _run(self) -> None:
        try:
            self._send_all()
        except BaseException as error:
            self._error = error
            raise

    def _send_all(self) -> None:
        deadline = time.monotonic() + 180
        with httpx.Client(timeout=10) as client:
            for n, body in enumerate(self.requests()):
                self._send(client, body, deadline)
                if self.resend_every and n % self.resend_every == 0:
                    self._send(client, body, deadline)
                pause = (n + 1) / self.requests_per_second - (time.monotonic() - self._started)
                if pause > 0:
                    time.sleep(pause)

    def start(self) -> VoteLoad:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def progress(self) -> int:
        return len(self.acknowledged)

    def wait_progress(self, votes: int, *, timeout: float = 60) -> None:
        eventually(
            lambda: self.progress() >= votes,
            f"the load did not reach {votes} votes",
            within=timeout,
            interval=0.05,
        )

    def finish(self, *, timeout: float = 200) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the load did not finish"
        if self._error is not None:
            raise AssertionError(f"the load failed: {self._error!r}") from self._error
        assert self.sent >= self.count, f"the load sent {self.sent} of its {self.count} votes"
        assert len(self.acknowledged) == self.sent, "the load ended with votes never acknowledged"


def counted(settings: Settings) -> int:
    with redis.Redis.from_url(settings.redis_url) as counters:
        return int(counters.get(tally.TOTAL) or 0)


def wait_counting(settings: Settings, above: int, *, timeout: float = 30) -> int:
    """Wait until the total passes `above`: a consumer is working through its backlog."""
    return eventually(
        lambda: total if (total := counted(settings)) > above else 0,
        "the consumer did not start counting",
        within=timeout,
        interval=0.02,
    )


def assert_counted_exactly_once(settings: Settings, load: VoteLoad, *, timeout: float = 90) -> None:
    """Redis counters and MongoDB documents equal the acknowledged votes: none lost, none twice."""
    expected_bands = collections.Counter(v["name"] for v in load.acknowledged.values())
    expected_albums = collections.Counter(f"{v['name']} / {v['album']}" for v in load.acknowledged.values())
    counters = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    kafka = KafkaProbe(settings)
    try:
        # Every record in the topic counted: a late double count would show now.
        wait_caught_up(counters, kafka, settings.votes_topic, timeout=timeout)
    finally:
        kafka.close()
    mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.mongo_uri)
    with mongo:
        ids = [d["_id"] for d in mongo[settings.mongo_database]["logs"].find({}, projection=["_id"])]
    total = int(counters.get(tally.TOTAL) or 0)
    assert total == len(load.acknowledged), (
        f"Redis counted {total} votes; {len(load.acknowledged)} were answered 202"
    )
    assert {k: int(v) for k, v in counters.hgetall(tally.BY_BAND).items()} == expected_bands
    assert {k: int(v) for k, v in counters.hgetall(tally.BY_ALBUM).items()} == expected_albums
    assert len(ids) == len(set(ids)) == len(load.acknowledged), f"{len(ids)} log documents"
    assert set(ids) == set(load.acknowledged)
    per_second = sum(int(v) for v in counters.hgetall(tally.PER_SECOND).values())
    assert per_second == len(load.acknowledged)
    counters.close()

"""`make up` and `make down` (python -m votemon.dev up|down): every service of the registry starts and
answers /readyz, a second `up` starts nothing, and `down` from another process stops each with
SIGTERM (exit 0), on ports of the test's own. The supervisor restarts a service killed under it, and
`up` repairs a pipeline whose supervisor was killed; every vote answered 202 is counted once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import psutil
import pytest
import redis

from tests import support
from votemon.dev import __main__ as dev
from votemon.dev.eventually import eventually
from votemon.dev.pipeline import KafkaProbe, unique_band, vote, wait_caught_up
from votemon.dev.processes import ROOT, environment
from votemon.dev.supervisor import read_record
from votemon.kafka import create_topics
from votemon.settings import READY_PATH, SERVICE, SERVICES, Settings
from votemon.store import tally

pytestmark = pytest.mark.stack


def dev_command(settings: Settings, command: str, *, exit_code: int = 0) -> str:
    """Run `python -m votemon.dev <command>` as its own process, as `make` does; its output (stdout,
    then stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "votemon.dev", command],
        env=environment(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == exit_code, done.stdout + done.stderr
    return done.stdout + done.stderr


def ready(settings: Settings) -> dict[str, int | None]:
    answers: dict[str, int | None] = {}
    for spec in SERVICES:
        try:
            answers[spec.name] = httpx.get(f"{spec.base_url(settings)}{READY_PATH}", timeout=5).status_code
        except httpx.TransportError:
            answers[spec.name] = None
    return answers


def test_up_then_down_from_another_process() -> None:
    settings = support.test_settings()
    asyncio.run(create_topics(settings))
    log_start = dev.SUPERVISOR_LOG.stat().st_size if dev.SUPERVISOR_LOG.exists() else 0
    try:
        assert "pipeline ready" in dev_command(settings, "up")
        assert ready(settings) == dict.fromkeys(SERVICE, 200)
        assert dev.running_supervisor(settings) is not None
        assert "pipeline running" in dev_command(settings, "up")
        assert dev_command(settings, "status").count(" 200  log ") == len(SERVICES)
    finally:
        assert "stopping the pipeline" in dev_command(settings, "down")
    assert ready(settings) == dict.fromkeys(SERVICE, None)
    assert dev.running_supervisor(settings) is None
    stops = [(event["name"], event["exit"]) for event in supervisor_events(log_start, "service stopped")]
    assert stops == [(spec.name, 0) for spec in reversed(SERVICES)]
    assert "not running" in dev_command(settings, "down")


def supervisor_events(log_start: int, event: str) -> list[dict[str, object]]:
    """The supervisor's JSON log lines named `event`, written after `log_start` bytes."""
    with dev.SUPERVISOR_LOG.open() as log:
        log.seek(log_start)
        lines = [json.loads(line) for line in log if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


@pytest.fixture
def supervised() -> Iterator[Settings]:
    """A pipeline started by `up` on the test's own topics and ports; `down` at the end."""
    settings = support.test_settings()
    asyncio.run(create_topics(settings))
    try:
        assert "pipeline ready" in dev_command(settings, "up")
        yield settings
    finally:
        dev_command(settings, "down")
    assert ready(settings) == dict.fromkeys(SERVICE, None)


class Votes:
    """Votes for one band sent to the front: how many were answered 202, and whether Redis holds
    exactly that many once the consumer counted everything the topic holds."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.band = unique_band("Supervised")
        self.accepted = 0
        self.counters = redis.Redis.from_url(settings.redis_url, decode_responses=True)
        self.kafka = KafkaProbe(settings)

    def send(self, n: int) -> None:
        front = f"{SERVICE['front'].base_url(self.settings)}/grpc"
        replies = [httpx.post(front, json=vote(self.band), timeout=10) for _ in range(n)]
        assert [reply.status_code for reply in replies] == [202] * n
        self.accepted += n

    def counted(self) -> int:
        wait_caught_up(self.counters, self.kafka, self.settings.votes_topic, timeout=60)
        return int(self.counters.hget(tally.BY_BAND, self.band) or 0)

    def close(self) -> None:
        self.kafka.close()
        self.counters.close()


def service_entry(settings: Settings, name: str) -> dict[str, int]:
    entry: dict[str, int] = read_record(settings).get("services", {}).get(name, {})
    return entry


def test_the_supervisor_restarts_each_killed_service_and_every_vote_counts_once(supervised: Settings) -> None:
    log_start = dev.SUPERVISOR_LOG.stat().st_size
    supervisor = dev.running_supervisor(supervised)
    assert supervisor is not None
    votes = Votes(supervised)
    try:
        votes.send(20)
        for spec in SERVICES:
            killed = service_entry(supervised, spec.name)
            os.kill(killed["pid"], signal.SIGKILL)

            def back(name: str = spec.name, old: int = killed["pid"]) -> bool:
                entry = service_entry(supervised, name)
                return (
                    bool(entry) and entry["pid"] != old and ready(supervised) == dict.fromkeys(SERVICE, 200)
                )

            eventually(back, f"{spec.name} restarted and every service ready", within=90, interval=0.2)
            assert service_entry(supervised, spec.name)["restarts"] == 1
            assert not psutil.pid_exists(killed["pid"]), f"{spec.name}'s old process was not reaped"
            votes.send(20)
        assert votes.counted() == votes.accepted == 20 * (len(SERVICES) + 1)
        assert all(entry["restarts"] == 1 for entry in read_record(supervised)["services"].values())
        assert "restarts: " + ", ".join(f"{spec.name} 1" for spec in SERVICES) in dev_command(
            supervised, "status"
        )
    finally:
        votes.close()
    exits = supervisor_events(log_start, "service exited")
    assert [(event["name"], event["exit"]) for event in exits] == [(spec.name, -9) for spec in SERVICES]
    assert [event["name"] for event in supervisor_events(log_start, "service restarted")] == [
        spec.name for spec in SERVICES
    ]
    assert not [child for child in supervisor.children() if child.status() == psutil.STATUS_ZOMBIE]


def test_up_repairs_a_pipeline_whose_supervisor_was_killed(supervised: Settings) -> None:
    votes = Votes(supervised)
    try:
        votes.send(20)
        old = dev.running_supervisor(supervised)
        assert old is not None
        left = {name: entry["pid"] for name, entry in read_record(supervised)["services"].items()}
        old.send_signal(signal.SIGKILL)
        old.wait(timeout=30)
        os.kill(left["consumer"], signal.SIGKILL)  # a service down too: only front, results, grpc-server run
        out = dev_command(supervised, "up")
        assert "left by a supervisor that no longer runs" in out and "pipeline ready" in out
        assert ready(supervised) == dict.fromkeys(SERVICE, 200)
        assert all(
            not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            for pid in left.values()
        )
        votes.send(20)
        assert votes.counted() == votes.accepted == 40
    finally:
        votes.close()


def test_up_waits_for_a_restart_instead_of_saying_already_running(supervised: Settings) -> None:
    os.kill(service_entry(supervised, "consumer")["pid"], signal.SIGKILL)
    assert "pipeline running" in dev_command(supervised, "up")
    assert ready(supervised) == dict.fromkeys(SERVICE, 200)
    eventually(
        lambda: service_entry(supervised, "consumer").get("restarts") == 1,
        "the consumer's restart recorded",
        within=30,
    )


def test_check_names_the_service_that_is_down(supervised: Settings) -> None:
    assert "every service answer" in dev_command(supervised, "check")
    dev_command(supervised, "down")
    said = dev_command(supervised, "check", exit_code=1)
    assert all(f"{spec.name} ({spec.base_url(supervised)}" in said for spec in SERVICES)
    assert "Traceback" not in said

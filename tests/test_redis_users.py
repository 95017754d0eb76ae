"""The Redis users of base/redis/users.acl, as the local stack creates them, against the real Redis:
each service's user does its service's work and nothing more (issue 27: a results process cannot
write, the consumer cannot FLUSHALL), and no user holds a command of @dangerous but the consumer's
INFO."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from redis.asyncio import Redis
from redis.exceptions import NoPermissionError, ResponseError

from tests.support import store_settings
from votemon.dev.pipeline import vote
from votemon.dev.processes import ROOT
from votemon.dev.redis_databases import RedisDatabase
from votemon.settings import Settings
from votemon.store import PartitionBatch
from votemon.store.tally import OFFSETS, TOTAL, Counted, Tally, redis_client
from votemon.votes import AcceptedVote, VoteIn, utc_now

pytestmark = pytest.mark.stack

USERS = [
    line.split()[1]
    for line in (ROOT / "base/redis/users.acl").read_text().splitlines()
    if line.startswith("user ")
]


@pytest.fixture
async def settings() -> AsyncIterator[Settings]:
    settings = store_settings(RedisDatabase.TEST_REDIS_USERS)
    admin = redis_client(settings)
    await admin.flushdb()
    yield settings
    await admin.flushdb()
    await admin.aclose()


@pytest.fixture
async def clients(settings: Settings) -> AsyncIterator[dict[str, Redis]]:
    """A client per user, each logged in with the password file the local stack made for it."""
    clients = {user: redis_client(settings, user) for user in USERS}
    yield clients
    for client in clients.values():
        await client.aclose()


async def run(client: Redis, *command: str) -> Any:
    """One command as given (redis-py's execute_command is untyped)."""
    return await client.execute_command(*command)  # type: ignore[no-untyped-call]


def batch(start: int, end: int) -> PartitionBatch:
    accepted = utc_now() - timedelta(seconds=1)
    votes = [AcceptedVote.accept(VoteIn.model_validate(vote("Users")), accepted) for _ in range(start, end)]
    return PartitionBatch(
        TopicPartition("votes", 0), start, end, list(zip(range(start, end), votes, strict=True))
    )


def test_the_stack_creates_each_user_with_a_password_file_of_its_own(settings: Settings) -> None:
    assert USERS == ["consumer", "results", "grafana"]
    assert settings.redis_users_dir is not None
    passwords = {user: (settings.redis_users_dir / user).read_text().strip() for user in USERS}
    assert len(set(passwords.values())) == len(USERS) and all(len(p) >= 32 for p in passwords.values())
    assert all((settings.redis_users_dir / user).stat().st_mode & 0o077 == 0 for user in USERS)


async def test_the_consumer_counts_and_keeps_its_offsets(
    settings: Settings, clients: dict[str, Redis]
) -> None:
    consumer = Tally(clients["consumer"], settings)
    assert await consumer.count(batch(0, 5)) == Counted(5, None)
    assert await consumer.count(batch(0, 5)) == Counted(0, None), "a replay counts nothing"
    await consumer.skip_to("votes", 1, 7)
    assert await consumer.stored_offsets("votes", [0, 1]) == {0: 5, 1: 7}
    assert await consumer.backfill_rankings() == 0
    assert await consumer.trim_rate() == 0
    assert (await consumer.memory())[0] > 0
    assert await consumer.distinct_names() == (1, 1)


async def test_the_consumer_cannot_flush_configure_or_reach_other_keys(clients: dict[str, Redis]) -> None:
    consumer = clients["consumer"]
    for command in (
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("CONFIG", "GET", "maxmemory"),
        ("KEYS", "*"),
        ("ACL", "SETUSER", "consumer", "+@all"),
        ("SCRIPT", "FLUSH"),
    ):
        with pytest.raises(NoPermissionError):
            await run(consumer, *command)
    for command in (
        ("HSET", "other:key", "f", "1"),
        ("HGET", "other:key", "f"),
        ("ZADD", "session:1", "1", "m"),
    ):
        with pytest.raises(NoPermissionError, match="keys"):
            await run(consumer, *command)


async def test_results_reads_everything_it_serves_and_writes_nothing(
    settings: Settings, clients: dict[str, Redis]
) -> None:
    assert await Tally(clients["consumer"], settings).count(batch(0, 3)) == Counted(3, None)
    admin = redis_client(settings)
    await admin.script_flush()  # the results user loads its snapshot script itself (SCRIPT LOAD)
    await admin.aclose()
    results = Tally(clients["results"], settings)
    snapshot = await results.snapshot(10, 5)
    assert snapshot.totals["total"] == 3 and len(snapshot.logs) == 3
    assert (await results.totals())["total"] == 3
    assert len(await results.latest(10)) == 3
    assert sum(second["votes"] for second in await results.rate(5)) == 3
    assert await results.ping()
    writer = clients["results"]
    for command in (
        ("SET", TOTAL, "0"),
        ("DEL", TOTAL),
        ("HSET", OFFSETS, "votes:0", "0"),
        ("FLUSHALL",),
        ("FLUSHDB",),
    ):
        with pytest.raises(NoPermissionError):
            await run(writer, *command)
    with pytest.raises(NoPermissionError):  # the consumer's counting script, loaded by the consumer above
        await Tally(writer, settings).count(batch(3, 4))
    assert (await results.totals())["total"] == 3


async def test_grafana_reads_the_dashboards_keys_and_writes_nothing(
    settings: Settings, clients: dict[str, Redis]
) -> None:
    await Tally(clients["consumer"], settings).count(batch(0, 2))
    grafana = clients["grafana"]
    assert await grafana.get(TOTAL) == "2"
    assert await grafana.hgetall("votes:by-band")
    for command in (
        ("SET", TOTAL, "0"),
        ("DEL", TOTAL),
        ("FLUSHALL",),
        ("EVAL", "return 1", "0"),
        ("KEYS", "*"),
    ):
        with pytest.raises(NoPermissionError):
            await run(grafana, *command)


async def may_run(admin: Redis, user: str, command: str) -> bool:
    """ACL DRYRUN's verdict, with as many arguments as the command's arity asks (up to 8)."""
    for extra in range(9):
        try:
            reply = await run(admin, "ACL", "DRYRUN", user, *command.split("|"), *(["x"] * extra))
        except ResponseError as error:
            assert "wrong number of arguments" in str(error), error
            continue
        assert reply == "OK" or "no permissions" in reply, reply
        return bool(reply == "OK")
    raise AssertionError(f"ACL DRYRUN {user} {command}: no arity fits")


async def test_no_user_holds_a_dangerous_command_but_the_consumers_info(settings: Settings) -> None:
    admin = redis_client(settings)
    try:
        dangerous = sorted(str(command) for command in await admin.acl_cat("dangerous"))
        assert "flushall" in dangerous and "info" in dangerous
        allowed = {
            (user, command) for user in USERS for command in dangerous if await may_run(admin, user, command)
        }
    finally:
        await admin.aclose()
    assert allowed == {("consumer", "info")}

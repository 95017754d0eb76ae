"""The stream's broadcaster as pure logic: a fake read, a fake clock and a sleep that only yields, so
nothing here depends on timing (the real stream is tests/test_stream.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from votemon.store.tally import Snapshot
from votemon.stream import CLIENT_QUEUE_EVENTS, Broadcaster, Client

MAX_SECONDS = 240.0


class FakeStore:
    """What Tally.snapshot would answer: `total` votes, on a clock that moves 1 s per read."""

    def __init__(self) -> None:
        self.total = 0
        self.now_ms = 1_000_000
        self.reads = 0
        self.failure: Exception | None = None

    async def read(self) -> Snapshot:
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        self.now_ms += 1000
        logs = [{"id": str(self.total), "accepted_at": "2026-01-01T00:00:00+00:00"}] if self.total else []
        return Snapshot(self.now_ms, {"total": self.total}, logs, [{"second": 0, "votes": self.total}])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def yield_only(_seconds: float) -> None:
    await asyncio.sleep(0)


def broadcaster(store: FakeStore, clock: Clock | None = None) -> Broadcaster:
    return Broadcaster(
        store.read, tick_seconds=1.0, max_seconds=MAX_SECONDS, clock=clock or Clock(), sleep=yield_only
    )


def drain(client: Client) -> list[tuple[str, int, dict[str, Any]] | None]:
    """The queued events as (name, id, data); None where the stream ends."""
    events: list[tuple[str, int, dict[str, Any]] | None] = []
    while not client.queue.empty():
        raw = client.queue.get_nowait()
        if raw is None:
            events.append(None)
            continue
        fields = dict(line.split(": ", 1) for line in raw.decode().strip().split("\n"))
        events.append((fields["event"], int(fields["id"]), orjson.loads(fields["data"])))
    return events


async def stop_loop(hub: Broadcaster) -> None:
    """Let the idle loop notice it has nobody left (no read happens meanwhile)."""
    for _ in range(10):
        if not hub.running:
            return
        await asyncio.sleep(0)
    raise AssertionError("the loop did not stop")


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


async def test_one_read_per_tick_fans_out_to_every_client(store: FakeStore) -> None:
    hub = broadcaster(store)
    clients = [Client(MAX_SECONDS) for _ in range(3)]
    hub._clients.update(clients)
    await hub.read_once()
    store.total = 5
    await hub.read_once()
    await hub.read_once()
    assert store.reads == 3
    seen = [drain(client) for client in clients]
    assert seen[0] == seen[1] == seen[2]
    names = [event[0] for event in seen[0] if event]
    assert names == ["state", "state", "tick"], "a state when something changed, else a tick"
    state = seen[0][1]
    assert state is not None and state[2]["totals"] == {"total": 5}
    assert set(state[2]) == {"now_ms", "totals", "logs", "rate"}


async def test_ids_increase_even_when_the_clock_does_not(store: FakeStore) -> None:
    hub = broadcaster(store)
    client = Client(MAX_SECONDS)
    hub._clients.add(client)
    await hub.read_once()
    first = store.now_ms
    store.now_ms -= 5000  # Redis' clock stepped back
    await hub.read_once()
    ids = [event[1] for event in drain(client) if event]
    assert ids[0] == first, "an id is Redis' clock in ms"
    assert ids[1] > ids[0]


async def test_a_client_that_falls_behind_is_dropped_not_buffered(store: FakeStore) -> None:
    hub = broadcaster(store)
    slow, fast = Client(MAX_SECONDS), Client(MAX_SECONDS)
    hub._clients.update({slow, fast})
    for tick in range(CLIENT_QUEUE_EVENTS + 1):
        store.total = tick
        await hub.read_once()
        assert len(drain(fast)) == 1
    assert drain(slow) == [None], "a full queue is emptied and its stream ended"
    assert hub.clients == 1
    await hub.read_once()
    assert len(drain(fast)) == 1


async def test_a_new_connection_gets_the_current_state_at_once(store: FakeStore) -> None:
    """Also a reconnect with Last-Event-ID: the state is whole, so it is the resume."""
    hub = broadcaster(store)
    store.total = 7
    first = hub.subscribe()
    await asyncio.sleep(0)
    assert hub.running
    events = drain(first)
    assert events and events[0] is not None and events[0][0] == "state"
    later = hub.subscribe()
    events = drain(later)
    assert len(events) == 1, "queued on subscribe, before any further read"
    assert events[0] is not None and events[0][0] == "state" and events[0][2]["totals"] == {"total": 7}
    await hub.close()


async def test_no_reads_while_nobody_listens(store: FakeStore) -> None:
    hub = broadcaster(store)
    assert store.reads == 0
    client = hub.subscribe()
    for _ in range(5):
        await asyncio.sleep(0)
    assert store.reads >= 2
    hub.unsubscribe(client)
    await stop_loop(hub)
    reads = store.reads
    for _ in range(20):
        await asyncio.sleep(0)
    assert store.reads == reads
    again = hub.subscribe()
    await asyncio.sleep(0)
    assert store.reads == reads + 1
    events = drain(again)
    assert events and events[0] is not None and events[0][0] == "state", (
        "a restarted loop starts with a state"
    )
    await hub.close()


async def test_a_stream_ends_after_its_maximum_duration(store: FakeStore) -> None:
    clock = Clock()
    hub = broadcaster(store, clock)
    old = Client(MAX_SECONDS)
    hub._clients.add(old)
    clock.now = MAX_SECONDS / 2
    young = Client(clock.now + MAX_SECONDS)
    hub._clients.add(young)
    await hub.read_once()
    clock.now = MAX_SECONDS
    await hub.read_once()
    assert drain(old)[-1] is None
    assert None not in drain(young)
    assert hub.clients == 1


async def test_shutdown_ends_every_stream_and_the_loop(store: FakeStore) -> None:
    hub = broadcaster(store)
    clients = [hub.subscribe() for _ in range(3)]
    await asyncio.sleep(0)
    await hub.close()
    assert not hub.running
    assert all(drain(client)[-1] is None for client in clients)
    assert hub.clients == 0
    late = hub.subscribe()
    assert drain(late) == [None], "a stream opened during shutdown ends at once"
    assert not hub.running


@pytest.mark.parametrize(
    ("failure", "code"),
    [(RedisConnectionError("refused"), "redis_unavailable"), (KeyError("bug"), "internal_error")],
)
async def test_a_failed_read_is_told_and_the_loop_goes_on(
    store: FakeStore, failure: Exception, code: str
) -> None:
    hub = broadcaster(store)
    client = hub.subscribe()
    store.failure = failure
    for _ in range(5):
        await asyncio.sleep(0)
    assert hub.running
    events = drain(client)
    assert events and all(event is not None and event[0] == "unavailable" for event in events)
    assert events[0] is not None and events[0][2]["error"] == code
    store.failure = None
    for _ in range(3):
        await asyncio.sleep(0)
    events = drain(client)
    assert events and events[0] is not None and events[0][0] == "state", "after an error, a state"
    await hub.close()

"""/api/stream on the real stack: the state at once, then each counted vote, with increasing ids; a
reconnect with Last-Event-ID; a stream that ends itself; SIGTERM ending open streams at once; and
20 viewers costing one Redis read per tick (INFO commandstats). The broadcaster's logic alone is
tests/test_stream_unit.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.support import store_settings
from votemon.dev.pipeline import Pipeline, unique_band, vote
from votemon.dev.processes import Service
from votemon.dev.redis_databases import RedisDatabase
from votemon.dev.sse import Event, stream
from votemon.store import tally

pytestmark = pytest.mark.stack

WITHIN_S = 30.0  # a bound for "it never came", not a latency target (bench/stream.py measures that)


@contextlib.contextmanager
def own_results(**overrides: Any) -> Iterator[Service]:
    """A results process of the test's own over Redis database TEST_STREAM; it must exit 0."""
    settings = store_settings(RedisDatabase.TEST_STREAM, **overrides)
    service = Service("results", settings).start().wait_ready()
    try:
        yield service
    finally:
        assert service.stop() == 0


async def next_event(events: AsyncIterator[Event]) -> Event:
    async with asyncio.timeout(WITHIN_S):
        return await anext(events)


async def until(events: AsyncIterator[Event], seen: list[Event], done: Any) -> Event:
    """Read events into `seen` until one satisfies `done`."""
    async with asyncio.timeout(WITHIN_S):
        async for event in events:
            seen.append(event)
            if done(event):
                return event
    raise AssertionError(f"the stream ended before the awaited event; last: {seen[-1:]}")


async def test_the_state_at_once_then_each_counted_vote_with_increasing_ids(pipeline: Pipeline) -> None:
    band = unique_band("Stream")
    async with httpx.AsyncClient(timeout=WITHIN_S) as client, stream(client, pipeline.results) as events:
        first = await next_event(events)
        assert first.name == "state"
        assert set(first.data) == {"now_ms", "totals", "logs", "rate"}
        assert len(first.data["rate"]) == 60 and len(first.data["logs"]) <= 20
        seen = [first]
        for i in range(3):
            reply = await asyncio.to_thread(pipeline.post, vote(band, f"Album {i}"))
            assert reply.status_code == 202
            vote_id = reply.json()["ids"][0]
            shown = await until(
                events,
                seen,
                lambda e, vote_id=vote_id: e.name == "state" and e.data["logs"][0]["id"] == vote_id,
            )
            assert shown.data["logs"][0]["album"] == f"Album {i}"
        ids = [event.id for event in seen]
        assert ids == sorted(set(ids)), "ids strictly increase"
        assert {event.name for event in seen} <= {"state", "tick"}
        assert pipeline.wait_band_count(band) == 3
        logs = (await client.get(f"{pipeline.results}/api/logs")).json()["logs"]
        assert shown.data["logs"] == logs, "the stream shows what /api/logs answers"
        assert shown.data["totals"]["total"] == int(pipeline.redis.get(tally.TOTAL) or 0)


async def test_a_reconnect_with_last_event_id_gets_the_current_state_at_once(pipeline: Pipeline) -> None:
    """The state at once is the last tick's (a reconnect costs no read of its own, so that the cost
    stays flat in viewers): at most a tick old, then the stream goes on from there."""
    async with httpx.AsyncClient(timeout=WITHIN_S) as client:
        async with stream(client, pipeline.results) as events:
            first = await next_event(events)
        band = unique_band("Resume")
        reply = await asyncio.to_thread(pipeline.post, vote(band))
        await asyncio.to_thread(pipeline.wait_band_count, band)
        vote_id = reply.json()["ids"][0]
        async with stream(client, pipeline.results, last_event_id=first.id) as events:
            resumed = await next_event(events)
            assert resumed.name == "state"
            assert resumed.id >= first.id
            seen = [resumed]
            if resumed.data["logs"][0]["id"] != vote_id:
                await until(events, seen, lambda e: e.name == "state" and e.data["logs"][0]["id"] == vote_id)
        ids = [event.id for event in seen]
        assert ids == sorted(set(ids))
        assert len(seen) <= 3, f"the vote counted meanwhile came a tick later at most: {seen}"


async def open_streams(
    stack: contextlib.AsyncExitStack, client: httpx.AsyncClient, base_url: str, n: int
) -> list[AsyncIterator[Event]]:
    return [await stack.enter_async_context(stream(client, base_url)) for _ in range(n)]


async def read_all(events: AsyncIterator[Event], seen: list[Event]) -> None:
    async for event in events:
        seen.append(event)


def test_a_stream_ends_itself_after_its_maximum_duration() -> None:
    with own_results(stream_max_seconds=2.0, stream_tick_seconds=0.2) as results:

        async def follow() -> list[Event]:
            seen: list[Event] = []
            base = results.base_url
            async with httpx.AsyncClient(timeout=WITHIN_S) as client, stream(client, base) as events:
                async with asyncio.timeout(WITHIN_S):
                    await read_all(events, seen)
            return seen

        seen = asyncio.run(follow())
        assert seen and seen[0].name == "state"
        assert len(seen) >= 5, "ticks until the end"
        metrics = httpx.get(f"{results.base_url}/metrics").text
        assert 'results_stream_ended_total{reason="max_duration"} 1.0' in metrics
        assert "results_stream_clients 0.0" in metrics


def test_sigterm_ends_open_streams_and_the_process_at_once() -> None:
    """Open streams and a kept-alive polling connection must not hold the process for its grace
    (here 30 s): the stop signal ends the streams, and the process exits 0 well before."""
    with own_results(shutdown_grace_seconds=30.0) as results:

        async def stop_while_streaming() -> tuple[int, float, list[list[Event]]]:
            async with httpx.AsyncClient(timeout=WITHIN_S) as client, contextlib.AsyncExitStack() as stack:
                streams = await open_streams(stack, client, results.base_url, 5)
                seen: list[list[Event]] = [[] for _ in streams]
                for events, events_seen in zip(streams, seen, strict=True):
                    events_seen.append(await next_event(events))
                readers = [asyncio.create_task(read_all(e, s)) for e, s in zip(streams, seen, strict=True)]
                async with httpx.AsyncClient() as poller:  # a viewer polling: a kept-alive connection
                    assert (await poller.get(f"{results.base_url}/api/totals")).status_code == 200
                    started = time.monotonic()
                    code = await asyncio.to_thread(results.stop)
                    elapsed = time.monotonic() - started
                async with asyncio.timeout(WITHIN_S):
                    await asyncio.gather(*readers)  # every stream ended, without an error
                return code, elapsed, seen

        code, elapsed, seen = asyncio.run(stop_while_streaming())
        assert code == 0
        assert elapsed < 10, f"exited {elapsed:.1f} s after SIGTERM: it waited for its streams"
        assert all(events and events[0].name == "state" for events in seen)


def commands(client: redis.Redis, name: str) -> int:
    stats: dict[str, dict[str, int]] = client.info("commandstats")
    return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))


def test_twenty_viewers_cost_one_redis_read_per_tick() -> None:
    with own_results(stream_tick_seconds=0.5) as results:
        server = redis.Redis.from_url(results.settings.redis_url)

        async def watch() -> tuple[int, int, list[list[int]]]:
            async with httpx.AsyncClient(timeout=WITHIN_S) as client, contextlib.AsyncExitStack() as stack:
                streams = await open_streams(stack, client, results.base_url, 20)
                seen: list[list[Event]] = [[] for _ in streams]
                readers = [asyncio.create_task(read_all(e, s)) for e, s in zip(streams, seen, strict=True)]
                async with asyncio.timeout(WITHIN_S):
                    while not all(seen):
                        await asyncio.sleep(0.05)
                before, events_before = commands(server, "evalsha_ro"), len(seen[0])
                async with asyncio.timeout(WITHIN_S):
                    while len(seen[0]) < events_before + 10:
                        await asyncio.sleep(0.05)
                calls, events = commands(server, "evalsha_ro") - before, len(seen[0]) - events_before
                for reader in readers:
                    reader.cancel()
                return calls, events, [[event.id for event in events_seen] for events_seen in seen]

        calls, events, ids = asyncio.run(watch())
        server.close()
        # one read per event (tick), plus the one in progress at each end of the measure
        assert calls <= events + 2, f"{calls} Redis scripts for {events} ticks with 20 viewers"
        common = set(ids[0][-5:])
        assert all(common <= set(stream_ids) for stream_ids in ids), "every viewer got the same events"

"""GET /api/stream: the page's data as Server-Sent Events, at a cost flat in the number of viewers.

One Broadcaster per results process reads Redis once per tick (one script, `Tally.snapshot`) while
at least one viewer is connected, and fans the event out: a full `state` when something changed, a
small `tick` (Redis' clock) otherwise, `unavailable` while Redis cannot be read. Ids are Redis' clock
in ms, so they increase across processes and reconnects; a new connection, with or without
Last-Event-ID, gets the current state at once (the state is whole: nothing to replay).

Each viewer has a bounded queue: one that falls behind is dropped (its browser reconnects) instead of
buffered. A stream ends itself after `stream_max_seconds` (before Cloud Run cuts it), and every
stream ends at once on shutdown, so Hypercorn never waits its grace for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from prometheus_client import Counter, Gauge
from quart import Response
from redis.exceptions import RedisError

from votemon.store.tally import Snapshot

CLIENT_QUEUE_EVENTS = 8  # a viewer this many events behind (seconds, at one tick a second) is dropped
RETRY_MS = 1000  # how soon a browser reconnects after a stream ended (SSE `retry:`)
REDIS_UNAVAILABLE = ("redis_unavailable", "the counters cannot be read right now")

CLIENTS = Gauge("results_stream_clients", "Viewers connected to /api/stream")
READS = Counter("results_stream_reads_total", "Redis reads of the stream's broadcaster (one per tick)")
READ_ERRORS = Counter("results_stream_read_errors_total", "Broadcaster reads that failed")
DROPS = Counter("results_stream_drops_total", "Streams ended because the viewer fell behind")
ENDED = Counter("results_stream_ended_total", "Streams ended by the server, by reason", ["reason"])

log = structlog.get_logger()


def encode(name: str, event_id: int, data: dict[str, Any]) -> bytes:
    """One SSE event; the data is one line of JSON."""
    return b"event: %s\nid: %d\ndata: %s\n\n" % (name.encode(), event_id, orjson.dumps(data))


def state_data(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "now_ms": snapshot.now_ms,
        "totals": snapshot.totals,
        "logs": snapshot.logs,
        "rate": snapshot.rate,
    }


def changes(snapshot: Snapshot) -> tuple[Any, ...]:
    """What a viewer sees change: the counts, the newest votes and the rate's values (not the window's
    seconds, which move every tick, nor the clock)."""
    return snapshot.totals, snapshot.logs, [point["votes"] for point in snapshot.rate]


@dataclass(eq=False)
class Client:
    """One connected viewer: its events (None ends the stream) and when its stream must end."""

    ends_at: float
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE_EVENTS))

    def end(self) -> None:
        """Make the stream end after what is queued, or at once when the queue is full."""
        if self.queue.full():
            while not self.queue.empty():
                self.queue.get_nowait()
        self.queue.put_nowait(None)


class Broadcaster:
    """Reads once per tick while someone listens, and hands each event to every client."""

    def __init__(
        self,
        read: Callable[[], Awaitable[Snapshot]],
        *,
        tick_seconds: float,
        max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._read = read
        self._tick = tick_seconds
        self._max = max_seconds
        self._clock = clock
        self._sleep = sleep
        self._clients: set[Client] = set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last_id = 0
        self._latest: tuple[int, Snapshot] | None = None  # of the running loop: a new client's state
        self._seen: tuple[Any, ...] | None = None

    @property
    def clients(self) -> int:
        return len(self._clients)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def subscribe(self) -> Client:
        """A new client, with the current state queued at once when the loop has one; starts the loop
        if it was idle (its first read is then a state for everyone)."""
        client = Client(self._clock() + self._max)
        if self._closed:
            client.end()
            return client
        self._clients.add(client)
        CLIENTS.set(len(self._clients))
        if self.running and self._latest is not None:
            event_id, snapshot = self._latest
            client.queue.put_nowait(encode("state", event_id, state_data(snapshot)))
        if not self.running:
            self._latest, self._seen = None, None
            self._task = asyncio.create_task(self._run(), name="stream-broadcaster")
            self._task.add_done_callback(self._stopped)
        return client

    def unsubscribe(self, client: Client) -> None:
        self._clients.discard(client)
        CLIENTS.set(len(self._clients))

    async def close(self) -> None:
        """End every stream now and stop reading: on shutdown, before Hypercorn waits for requests."""
        self._closed = True
        for client in list(self._clients):
            self._finish(client, "shutdown")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def read_once(self) -> None:
        """One tick: read, then hand the event to every client. A failed read is an `unavailable` event;
        nothing raised here stops the loop."""
        now = self._clock()
        for client in [c for c in self._clients if c.ends_at <= now]:
            self._finish(client, "max_duration")
        try:
            snapshot = await self._read()
        except Exception as error:  # logged and told to the viewers; the loop goes on
            READ_ERRORS.inc()
            if isinstance(error, RedisError):
                log.warning("stream read failed", error=repr(error))
                code, message = REDIS_UNAVAILABLE
            else:
                log.exception("stream read failed")
                code, message = "internal_error", "the results service failed to read the counters"
            self._latest, self._seen = None, None
            self._last_id += 1
            self._publish(encode("unavailable", self._last_id, {"error": code, "message": message}))
            return
        READS.inc()
        self._last_id = max(self._last_id + 1, snapshot.now_ms)
        self._latest = (self._last_id, snapshot)
        seen = changes(snapshot)
        if seen != self._seen:
            self._seen = seen
            self._publish(encode("state", self._last_id, state_data(snapshot)))
        else:
            self._publish(encode("tick", self._last_id, {"now_ms": snapshot.now_ms}))

    async def _run(self) -> None:
        while self._clients and not self._closed:
            await self.read_once()
            await self._sleep(self._tick)

    def _stopped(self, task: asyncio.Task[None]) -> None:
        """A loop that ended by an error (never expected: read_once catches) is logged, and its
        clients are ended so that they reconnect and start a new one."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("stream broadcaster failed", error=repr(task.exception()))
        for client in list(self._clients):
            self._finish(client, "broadcaster_failed")

    def _publish(self, event: bytes) -> None:
        for client in list(self._clients):
            if client.queue.full():
                DROPS.inc()
                self._finish(client, "behind")
            else:
                client.queue.put_nowait(event)

    def _finish(self, client: Client, reason: str) -> None:
        self.unsubscribe(client)
        ENDED.labels(reason).inc()
        client.end()


def stream_response(broadcaster: Broadcaster) -> Response:
    """The text/event-stream answer of one viewer, which unsubscribes however it ends (the viewer
    gone, dropped, the stream's maximum reached, or shutdown)."""
    client = broadcaster.subscribe()

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"retry: %d\n\n" % RETRY_MS
            while (event := await client.queue.get()) is not None:
                yield event
        finally:
            broadcaster.unsubscribe(client)

    response = Response(events(), content_type="text/event-stream; charset=utf-8")
    response.headers["X-Accel-Buffering"] = "no"  # no proxy may hold events back
    response.timeout = None  # Quart's RESPONSE_TIMEOUT would cut it: the broadcaster ends it
    return response

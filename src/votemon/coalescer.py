"""Gathers items that arrive one at a time into batches, each sent in one call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    """Gathers the single votes of concurrent requests into one batch call (`send`), with no timer.

    A batch goes as soon as fewer than `calls` calls are under way: an idle front sends a vote in
    the event loop's next turn (with whatever else arrived in this one), and a busy front sends
    what gathered while its calls were out. So the batches grow with the load and nothing waits
    when there is none; a fixed window cost every vote its length, at any load. A batch also goes
    when it holds `limit` items. Every caller learns the outcome of the one call its item was in:
    success only once `send` returned for the whole batch. Nothing here is unbounded: at most
    `limit` items wait per call under way, and those calls hold what their callers were admitted
    with (the front's limit). `waited`, if given, is told each item's seconds from `submit` to its
    batch's call starting.
    """

    def __init__(
        self,
        send: Callable[[list[T]], Awaitable[None]],
        calls: int,
        limit: int,
        waited: Callable[[float], None] | None = None,
    ) -> None:
        self._send = send
        self._max_calls = calls
        self._limit = limit
        self._waited = waited
        self._pending: list[tuple[T, asyncio.Future[None], float]] = []
        self._flush_soon: asyncio.Handle | None = None
        self._calls: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> None:
        """Returns once the batch holding `item` was sent; raises what sending it raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((item, done, time.perf_counter()))
        if len(self._pending) >= self._limit:
            self._flush()
        elif self._flush_soon is None and len(self._calls) < self._max_calls:
            self._flush_soon = loop.call_soon(self._flush)
        await done

    def _flush(self) -> None:
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        batch, self._pending = self._pending, []
        if batch:
            call = asyncio.create_task(self._call(batch))
            self._calls.add(call)
            call.add_done_callback(self._call_ended)

    def _call_ended(self, call: asyncio.Task[None]) -> None:
        """A call slot is free: what gathered meanwhile goes now."""
        self._calls.discard(call)
        if self._pending and self._flush_soon is None:
            self._flush()

    async def _call(self, batch: list[tuple[T, asyncio.Future[None], float]]) -> None:
        """Sends the batch and settles each caller's future, but not one its caller gave up on
        (cancelled: the client went away): settling that one would raise and leave the rest hanging."""
        outcome: BaseException | None = None
        if self._waited is not None:
            now = time.perf_counter()
            for _, _, submitted in batch:
                self._waited(now - submitted)
        try:
            await self._send([item for item, _, _ in batch])
        except asyncio.CancelledError:
            for _, done, _ in batch:
                done.cancel()
            raise
        except Exception as error:  # every caller must learn the outcome, whatever it is
            outcome = error
        for _, done, _ in batch:
            if done.done():
                continue
            if outcome is None:
                done.set_result(None)
            else:
                done.set_exception(outcome)

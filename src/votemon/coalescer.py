"""Gathers items that arrive one at a time into batches, each sent in one call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    """Gathers the single votes of concurrent requests into one batch call (`send`).

    The first item opens a window of `window` seconds; the batch goes when the window closes or
    holds `limit` items. Every caller learns the outcome of the one call its item was in: success
    only once `send` returned for the whole batch. Nothing here is unbounded: at most `limit` items
    wait, and the calls under way hold what their callers were admitted with (the front's limit).
    `waited`, if given, is told each item's seconds from `submit` to its batch's call starting.
    """

    def __init__(
        self,
        send: Callable[[list[T]], Awaitable[None]],
        window: float,
        limit: int,
        waited: Callable[[float], None] | None = None,
    ) -> None:
        self._send = send
        self._window = window
        self._limit = limit
        self._waited = waited
        self._pending: list[tuple[T, asyncio.Future[None], float]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._calls: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> None:
        """Returns once the batch holding `item` was sent; raises what sending it raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((item, done, time.perf_counter()))
        if len(self._pending) >= self._limit:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._window, self._flush)
        await done

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            call = asyncio.create_task(self._call(batch))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

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

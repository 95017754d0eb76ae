"""Unit tests of the Coalescer (pure logic: `send` is a recording coroutine, no services)."""

from __future__ import annotations

import asyncio

import pytest

from votemon.coalescer import Coalescer

HOURS = 3600.0  # a window no test waits for: only the size limit sends the batch


class Recorder:
    """A `send` that records each batch and, while `hold` is clear, does not return."""

    def __init__(self, error: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.error = error
        self._called = asyncio.Condition()

    async def __call__(self, batch: list[int]) -> None:
        async with self._called:
            self.batches.append(batch)
            self._called.notify_all()
        await self.hold.wait()
        if self.error is not None:
            raise self.error

    async def called(self, times: int) -> None:
        """Returns once `send` was called `times` times."""
        async with self._called:
            await self._called.wait_for(lambda: len(self.batches) >= times)


async def test_concurrent_items_go_in_one_call_when_the_limit_is_reached() -> None:
    send = Recorder()
    coalescer = Coalescer(send, HOURS, limit=3)
    await asyncio.gather(*(coalescer.submit(item) for item in (1, 2, 3)))
    assert send.batches == [[1, 2, 3]]


async def test_the_window_sends_a_batch_below_the_limit() -> None:
    send = Recorder()
    coalescer = Coalescer(send, 0.0, limit=500)
    await asyncio.gather(coalescer.submit(1), coalescer.submit(2))
    assert send.batches == [[1, 2]]


async def test_callers_wait_for_their_batch_and_the_next_item_opens_a_new_one() -> None:
    send = Recorder()
    send.hold.clear()
    coalescer = Coalescer(send, HOURS, limit=2)
    first = [asyncio.ensure_future(coalescer.submit(item)) for item in (1, 2)]
    await send.called(1)
    assert send.batches == [[1, 2]]
    assert not any(caller.done() for caller in first)
    send.hold.set()
    await asyncio.gather(*first, coalescer.submit(3), coalescer.submit(4))
    assert send.batches == [[1, 2], [3, 4]]


async def test_every_caller_gets_the_error_of_its_call() -> None:
    send = Recorder(error=ConnectionError("broker away"))
    coalescer = Coalescer(send, HOURS, limit=2)
    outcomes = await asyncio.gather(coalescer.submit(1), coalescer.submit(2), return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [ConnectionError, ConnectionError]


async def test_a_caller_that_gives_up_leaves_the_others_answered() -> None:
    """A client that disconnects cancels its request while the call is under way: the others of the
    same batch must still learn the outcome (before, settling the cancelled one raised and left
    them waiting for ever)."""
    send = Recorder()
    send.hold.clear()
    coalescer = Coalescer(send, HOURS, limit=3)
    callers = [asyncio.ensure_future(coalescer.submit(item)) for item in (1, 2, 3)]
    await send.called(1)
    callers[1].cancel()
    send.hold.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), timeout=5)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], asyncio.CancelledError)
    assert send.batches == [[1, 2, 3]]


@pytest.mark.parametrize("limit", [1, 2])
async def test_no_more_than_limit_items_wait(limit: int) -> None:
    send = Recorder()
    send.hold.clear()
    coalescer = Coalescer(send, HOURS, limit=limit)
    callers = [asyncio.ensure_future(coalescer.submit(item)) for item in range(5 * limit)]
    await send.called(5)
    assert [len(batch) for batch in send.batches] == [limit] * 5
    send.hold.set()
    await asyncio.gather(*callers)


async def test_each_item_is_told_how_long_it_waited_for_its_call() -> None:
    send, waits = Recorder(), list[float]()
    coalescer = Coalescer(send, 0.01, limit=500, waited=waits.append)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(coalescer.submit(1), coalescer.submit(2))
    elapsed = loop.time() - started
    assert send.batches == [[1, 2]]
    assert len(waits) == 2
    assert all(0.005 < wait <= elapsed + 0.001 for wait in waits)  # about the window: timers may fire early

"""Unit tests of the Coalescer (pure logic: `send` is a recording coroutine, no services)."""

from __future__ import annotations

import asyncio
import time

import pytest

from votemon.coalescer import Coalescer


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


async def turns(n: int = 5) -> None:
    """Lets the event loop run n turns: enough for a flush scheduled with call_soon, and its task."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_concurrent_items_go_in_one_call_when_the_limit_is_reached() -> None:
    send = Recorder()
    send.hold.clear()
    coalescer = Coalescer(send, calls=1, limit=3)
    first = asyncio.ensure_future(coalescer.submit(0))
    await send.called(1)
    rest = [asyncio.ensure_future(coalescer.submit(item)) for item in (1, 2, 3)]
    await send.called(2)
    send.hold.set()
    await asyncio.gather(first, *rest)
    assert send.batches == [[0], [1, 2, 3]]


async def test_an_idle_coalescer_sends_at_once_what_arrived_in_one_turn() -> None:
    send = Recorder()
    coalescer = Coalescer(send, calls=1, limit=500)
    await asyncio.gather(coalescer.submit(1), coalescer.submit(2))
    assert send.batches == [[1, 2]]


async def test_items_gather_while_the_calls_are_under_way_and_go_when_one_ends() -> None:
    send = Recorder()
    send.hold.clear()
    coalescer = Coalescer(send, calls=2, limit=500)
    callers = [asyncio.ensure_future(coalescer.submit(1))]
    await send.called(1)
    callers.append(asyncio.ensure_future(coalescer.submit(2)))
    await send.called(2)
    callers += [asyncio.ensure_future(coalescer.submit(item)) for item in (3, 4)]
    await turns()
    assert send.batches == [[1], [2]], "two calls under way: the next items wait"
    send.hold.set()
    await asyncio.gather(*callers)
    assert send.batches == [[1], [2], [3, 4]]


async def test_callers_wait_for_their_batch_and_the_next_item_opens_a_new_one() -> None:
    send = Recorder()
    send.hold.clear()
    coalescer = Coalescer(send, calls=1, limit=2)
    first = [asyncio.ensure_future(coalescer.submit(item)) for item in (1, 2)]
    await send.called(1)
    assert send.batches == [[1, 2]]
    assert not any(caller.done() for caller in first)
    send.hold.set()
    await asyncio.gather(*first, coalescer.submit(3), coalescer.submit(4))
    assert send.batches == [[1, 2], [3, 4]]


async def test_every_caller_gets_the_error_of_its_call() -> None:
    send = Recorder(error=ConnectionError("broker away"))
    coalescer = Coalescer(send, calls=1, limit=2)
    outcomes = await asyncio.gather(coalescer.submit(1), coalescer.submit(2), return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [ConnectionError, ConnectionError]


async def test_a_caller_that_gives_up_leaves_the_others_answered() -> None:
    """A client that disconnects cancels its request while the call is under way: the others of the
    same batch must still learn the outcome (before, settling the cancelled one raised and left
    them waiting for ever)."""
    send = Recorder()
    send.hold.clear()
    coalescer = Coalescer(send, calls=1, limit=3)
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
    coalescer = Coalescer(send, calls=1, limit=limit)
    callers = [asyncio.ensure_future(coalescer.submit(item)) for item in range(5 * limit)]
    await send.called(5)
    assert [len(batch) for batch in send.batches] == [limit] * 5
    send.hold.set()
    await asyncio.gather(*callers)


async def test_each_item_is_told_how_long_it_waited_for_its_call() -> None:
    send, waits = Recorder(), list[float]()
    send.hold.clear()
    coalescer = Coalescer(send, calls=1, limit=500, waited=waits.append)
    first = asyncio.ensure_future(coalescer.submit(1))
    await send.called(1)
    submitted = time.perf_counter()
    second = asyncio.ensure_future(coalescer.submit(2))
    await turns()
    held = time.perf_counter() - submitted
    send.hold.set()
    await asyncio.gather(first, second)
    assert send.batches == [[1], [2]]
    assert len(waits) == 2
    assert waits[1] >= held, "the second item waited for the first call to end"

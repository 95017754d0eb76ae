"""Fill the stores directly, without running the pipeline: a large vote log in MongoDB and the
Redis state the consumer would have left after counting it.

- `count_votes` runs the consumer's own counting step (tally.lua, through `Tally.count`) on
  generated votes: the counters, the latest list and the dedupe sets are exactly what the
  consumer writes. About 20k votes/s here.
- `seed_counters` sets the counters of `n` older votes at once (a handful of HINCRBYs): the state
  that counting them would leave once their dedupe window has passed; with `count_votes` for the
  newest ones, Redis then holds what a consumer that counted `n` votes holds.
- `seed_log` bulk-inserts log documents (`insert_many`, unordered, in parallel batches).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.structs import TopicPartition
from pymongo.asynchronous.collection import AsyncCollection
from redis.asyncio import Redis

from votemon.store import PartitionBatch, tally
from votemon.store.tally import Tally
from votemon.store.vote_log import log_document
from votemon.votes import AcceptedVote

BANDS = ("Alux Nahual", "Bohemia Suburbana", "Café Tacvba", "Мумий Тролль")
ALBUMS = ("Rock chapin", "El Viaje", "Mis palabras", "Imaginaria Sonora")
SEED_TOPIC = "seed"
LOG_BATCH = 10_000
COUNT_BATCH = 2_000


def seeded_vote(i: int, newest: datetime, total: int, prefix: str = "seed") -> AcceptedVote:
    """Vote `i` of `total`, one millisecond apart, the last one accepted at `newest`."""
    return AcceptedVote.model_construct(
        id=f"{prefix}-{i:010d}",
        name=BANDS[i % len(BANDS)],
        album=ALBUMS[i % len(ALBUMS)],
        year=1990 + i % 30,
        rank=f"{i % 10}.5",
        accepted_at=newest - timedelta(milliseconds=total - 1 - i),
    )


def batches(start: int, stop: int, size: int) -> Iterator[range]:
    for first in range(start, stop, size):
        yield range(first, min(first + size, stop))


async def count_votes(
    counter: Tally,
    start: int,
    stop: int,
    newest: datetime,
    total: int,
    prefix: str = "seed",
    partition: int = 0,
) -> int:
    """Count votes [start, stop) of `total` with the consumer's script, at offsets start..stop-1
    of partition `seed:<partition>`; returns how many were counted (not seen before)."""
    counted = 0
    for chunk in batches(start, stop, COUNT_BATCH):
        votes = [(i, seeded_vote(i, newest, total, prefix)) for i in chunk]
        batch = PartitionBatch(TopicPartition(SEED_TOPIC, partition), chunk.start, chunk.stop, votes)
        result = await counter.count(batch)
        counted += result.votes
    return counted


async def seed_counters(redis: Redis, start: int, stop: int) -> None:
    """Add what counting votes [start, stop) adds to the counters, in one transaction."""
    bands: dict[str, int] = {}
    albums: dict[str, int] = {}
    for k in range(len(BANDS)):  # vote i has band i % 4 and album i % 4 (seeded_vote)
        n = len(range(start + (k - start) % len(BANDS), stop, len(BANDS)))
        band, album = BANDS[k], ALBUMS[k]
        bands[band] = n
        albums[f"{band} / {album}"] = n
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incrby(tally.TOTAL, stop - start)
        for band, n in bands.items():
            pipe.hincrby(tally.BY_BAND, band, n)
        for album, n in albums.items():
            pipe.hincrby(tally.BY_ALBUM, album, n)
        pipe.hset(tally.OFFSETS, tally.partition_field(SEED_TOPIC, 0), stop)
        await pipe.execute()


async def seed_log(
    logs: AsyncCollection[dict[str, Any]],
    start: int,
    stop: int,
    newest: datetime,
    total: int,
    parallel: int = 2,
    progress: bool = False,
) -> float:
    """Insert log documents [start, stop) of `total`; returns documents per second."""
    counted_at = datetime.now(UTC)
    began = time.perf_counter()
    done = 0
    chunks = iter(batches(start, stop, LOG_BATCH))

    async def worker() -> None:
        nonlocal done
        for chunk in chunks:  # the workers share one iterator
            documents = [log_document(seeded_vote(i, newest, total), 0, i, counted_at) for i in chunk]
            await logs.insert_many(documents, ordered=False)
            done += len(chunk)
            if progress and done % (LOG_BATCH * 50) < LOG_BATCH:
                rate = done / (time.perf_counter() - began)
                print(f"   seeded {start + done:,} / {stop:,} log documents ({rate:,.0f}/s)", flush=True)

    await asyncio.gather(*(worker() for _ in itertools.repeat(None, parallel)))
    elapsed = time.perf_counter() - began
    return (stop - start) / elapsed if elapsed else 0.0

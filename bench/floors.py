"""The libraries' own costs, each alone, in one process: `python -m bench.floors --records N`.

  produce      make_producer (the grpc-server's producer: acks=all, idempotent, its linger and batch
               size) sends N vote records to VOTES_TOPIC and awaits every ack;
  getmany      a bare getmany loop reads them back, doing nothing with them;
  count        Tally.count, the consumer's Lua script, in calls of BATCH votes, against Redis, no Kafka;
  insert_many  VoteLog.insert, the consumer's insert_many, BATCH documents a call, against MongoDB.

CPU is this process's own (getrusage: the client side). Settings come from the environment, as
for votemon; REDIS_URL and MONGO_DATABASE must be the bench's scratch ones (they are written to).
Prints one JSON object: {step: {"records", "cpu_seconds", "seconds"}}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition

from votemon.kafka import ADMIN, login, make_producer
from votemon.settings import Settings
from votemon.store import PartitionBatch
from votemon.store.tally import Tally, redis_client
from votemon.store.vote_log import VoteLog, mongo_client
from votemon.votes import AcceptedVote, VoteIn, utc_now

BANDS = 64
# votes per Redis call and per insert_many: what one partition's share of a full getmany holds
BATCH = 500


def sample_votes(count: int) -> list[AcceptedVote]:
    """`count` valid votes, spread over BANDS bands and so over the partitions."""
    now = utc_now()
    return [
        AcceptedVote.accept(
            VoteIn(name=f"Band {i % BANDS}", album=f"Album {i % 7}", year=1990 + i % 30, rank=Decimal("9.5")),
            now,
        )
        for i in range(count)
    ]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def measured(figures: dict[str, dict[str, float]], step: str, records: int) -> Iterator[None]:
    cpu, wall = cpu_seconds(), time.perf_counter()
    yield
    figures[step] = {
        "records": records,
        "cpu_seconds": cpu_seconds() - cpu,
        "seconds": time.perf_counter() - wall,
    }


async def kafka_floors(
    settings: Settings, votes: list[AcceptedVote], figures: dict[str, dict[str, float]]
) -> None:
    records = [(vote.kafka_key(), vote.kafka_value()) for vote in votes]
    producer = make_producer(settings, ADMIN)
    await producer.start()
    try:
        with measured(figures, "produce", len(records)):
            deliveries = [
                await producer.send(settings.votes_topic, value=value, key=key) for key, value in records
            ]
            await asyncio.gather(*deliveries)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        settings.votes_topic,
        group_id=f"votemon-floors-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **login(settings, ADMIN),
    )
    await consumer.start()
    try:
        seen = 0
        with measured(figures, "getmany", len(records)):
            while seen < len(records):
                batches = await consumer.getmany(timeout_ms=500, max_records=settings.consumer_max_records)
                seen += sum(len(batch) for batch in batches.values())
    finally:
        await consumer.stop()


async def store_floors(
    settings: Settings, votes: list[AcceptedVote], figures: dict[str, dict[str, float]]
) -> None:
    redis, mongo = redis_client(settings), mongo_client(settings)
    tally, vote_log = Tally(redis, settings), VoteLog(mongo, settings)
    numbered = list(enumerate(votes))
    tp = TopicPartition("votes-floors", 0)
    calls = [
        PartitionBatch(tp, i, min(i + BATCH, len(numbered)), numbered[i : i + BATCH])
        for i in range(0, len(numbered), BATCH)
    ]
    try:
        await vote_log.ensure_indexes()
        with measured(figures, "count", len(votes)):
            for call in calls:
                await tally.count(call)
        with measured(figures, "insert_many", len(votes)):
            for call in calls:
                await vote_log.insert([call], utc_now())
    finally:
        await mongo.drop_database(settings.mongo_database)
        await redis.flushdb()
        await redis.aclose()
        await mongo.close()


async def floors(records: int) -> dict[str, dict[str, float]]:
    settings = Settings()
    votes = sample_votes(records)
    figures: dict[str, dict[str, float]] = {}
    await kafka_floors(settings, votes, figures)
    await store_floors(settings, votes, figures)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floors", description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args(argv)
    json.dump(uvloop.run(floors(args.records)), sys.stdout)


if __name__ == "__main__":
    main()

"""The stores' own ceilings, for the consumer's bound: `python -m bench.stores`.

Times the consumer's three per-batch steps alone, on 2,000-vote batches: decoding Kafka values,
the MongoDB `insert_many` (FerretDB here), and the Redis counting script. The consumer runs them
in sequence per batch, so its drain rate cannot pass 1 / (sum of 1 / rate).
"""

from __future__ import annotations

import statistics
import time
import uuid

import uvloop
from aiokafka.structs import TopicPartition

from bench.run import BENCH_REDIS_URL
from votemon.settings import Settings
from votemon.store import PartitionBatch
from votemon.store.tally import Tally, redis_client
from votemon.store.vote_log import VoteLog, mongo_client
from votemon.votes import AcceptedVote, VoteIn, utc_now

BATCH = 2000
ROUNDS = 5


async def measure() -> dict[str, float]:
    settings = Settings(redis_url=BENCH_REDIS_URL, mongo_database=f"bench_stores_{uuid.uuid4().hex[:6]}")
    redis, mongo = redis_client(settings), mongo_client(settings)
    tally, vote_log = Tally(redis, settings), VoteLog(mongo, settings)
    await vote_log.ensure_indexes()
    rates: dict[str, list[float]] = {"decode": [], "mongo": [], "redis": []}
    try:
        for round_ in range(ROUNDS):
            first = round_ * BATCH
            votes = [
                (
                    first + i,
                    AcceptedVote.accept(
                        VoteIn(name=f"Band {i % 2}", album="A", year=2000, rank="5"), utc_now()
                    ),
                )
                for i in range(BATCH)
            ]
            values = [vote.kafka_value() for _, vote in votes]
            batch = PartitionBatch(TopicPartition("bench-stores", 0), first, first + BATCH, votes)
            started = time.perf_counter()
            for value in values:
                AcceptedVote.from_kafka(value)
            decoded = time.perf_counter()
            await vote_log.insert(batch, utc_now())
            logged = time.perf_counter()
            await tally.count(batch)
            counted = time.perf_counter()
            rates["decode"].append(BATCH / (decoded - started))
            rates["mongo"].append(BATCH / (logged - decoded))
            rates["redis"].append(BATCH / (counted - logged))
    finally:
        await mongo.drop_database(settings.mongo_database)
        await redis.delete("votes:offsets")
        await redis.aclose()
        await mongo.close()
    return {step: statistics.median(values) for step, values in rates.items()}


def main() -> None:
    rates = uvloop.run(measure())
    for step, rate in rates.items():
        print(f"{step:<8}{rate:>10,.0f} votes/s")
    bound = 1 / sum(1 / rate for rate in rates.values())
    print(f"{'bound':<8}{bound:>10,.0f} votes/s  (the three in sequence, one consumer)")


if __name__ == "__main__":
    main()

"""The Kafka ceilings, each in its own process, printing one JSON object.

    python -m bench.kafka_bench produce --topic T --count N   # bare producer loop, votemon's settings
    python -m bench.kafka_bench getmany --topic T --count N --group G   # bare getmany loop

Settings (bootstrap servers, linger, max records) come from the environment, as for votemon.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from decimal import Decimal

import uvloop
from aiokafka import AIOKafkaConsumer

from votemon.kafka import make_producer
from votemon.settings import Settings
from votemon.votes import AcceptedVote, VoteIn, utc_now

BANDS = 64


def sample_votes(count: int) -> list[tuple[bytes, bytes]]:
    """`count` valid vote records (key, value), spread over BANDS bands and so over the partitions."""
    now = utc_now()
    records = []
    for i in range(count):
        vote = VoteIn(
            name=f"Band {i % BANDS}", album=f"Album {i % 7}", year=1990 + i % 30, rank=Decimal("9.5")
        )
        accepted = AcceptedVote.accept(vote, now)
        records.append((accepted.kafka_key(), accepted.kafka_value()))
    return records


async def produce(settings: Settings, topic: str, count: int) -> dict[str, float]:
    records = sample_votes(count)
    producer = make_producer(settings)
    await producer.start()
    try:
        started = time.perf_counter()
        deliveries = [await producer.send(topic, value=value, key=key) for key, value in records]
        await asyncio.wait(deliveries)
        seconds = time.perf_counter() - started
        for delivery in deliveries:
            delivery.result()
    finally:
        await producer.stop()
    return {"records": count, "seconds": seconds, "rate": count / seconds}


async def getmany(settings: Settings, topic: str, count: int, group: str, limit: float) -> dict[str, float]:
    """Read `count` records, doing nothing with them; the rate is timed from the first batch on."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        client_id="votemon-bench",
    )
    await consumer.start()
    seen = first = 0
    first_at = last_at = 0.0
    deadline = time.monotonic() + limit
    try:
        while seen < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=settings.consumer_max_records)
            got = sum(len(records) for records in batches.values())
            if got and not first:
                first, first_at = got, time.perf_counter()
            seen += got
            if got:
                last_at = time.perf_counter()
    finally:
        await consumer.stop()
    seconds = last_at - first_at
    return {
        "records": seen,
        "seconds": seconds,
        "rate": (seen - first) / seconds if seconds > 0 else float("nan"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.kafka_bench", description=__doc__)
    parser.add_argument("mode", choices=["produce", "getmany"])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--group", default="votemon-bench-getmany")
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args(argv)
    settings = Settings()
    if args.mode == "produce":
        result = uvloop.run(produce(settings, args.topic, args.count))
    else:
        result = uvloop.run(getmany(settings, args.topic, args.count, args.group, args.timeout))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()

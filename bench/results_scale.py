"""`python -m bench.results_scale`: the results endpoints' latency against the number of stored votes.

For each size (default 0, 1M, 10M) the stores are filled directly (votemon.dev.seed: bulk inserts
into MongoDB, the consumer's counting script for the newest votes, the counters of the older
ones), then one `votemon results` process is timed: p50/p99 of sequential requests to each
endpoint and to /readyz. The old /api/logs query (find, sort accepted_at and _id, limit 20) is
timed once per size too, under a server-side limit, for comparison. Redis' memory is reported.

Uses Redis database BENCH_RESULTS_SCALE (votemon.dev.redis_databases)
of REDIS_URL's server and the MongoDB database `bench_results_scale`
of MONGO_URI; with --keep the log seeded by an earlier run is reused (seeding 10M took 17 min
here), and the smaller sizes are then measured with that larger log beside them (the endpoints
never read it; the table says how many documents the log held).
Writes docs/bench/results-scale.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from pymongo import DESCENDING, AsyncMongoClient
from pymongo.errors import ExecutionTimeout
from redis.asyncio import Redis

from bench.stats import percentile
from votemon.dev.processes import ROOT, Service, free_port
from votemon.dev.redis_databases import RedisDatabase, redis_url
from votemon.dev.seed import count_votes, seed_counters, seed_log
from votemon.settings import Settings
from votemon.store.tally import Tally, redis_client
from votemon.store.vote_log import mongo_client

ENDPOINTS = ("/api/totals", "/api/logs?limit=20", "/api/rate?seconds=60", "/readyz")
RECENT = 10_000  # the newest votes of each size go through the counting script itself
OLD_QUERY_LIMIT_MS = 30_000
DATABASE = "bench_results_scale"
OUT = ROOT / "docs" / "bench"


def settings_for_bench() -> Settings:
    base = Settings()
    return base.model_copy(
        update={
            "redis_url": redis_url(RedisDatabase.BENCH_RESULTS_SCALE),
            "mongo_database": DATABASE,
            "results_bind": f"127.0.0.1:{free_port()}",
        }
    )


def time_endpoint(client: httpx.Client, url: str, requests: int) -> dict[str, float]:
    for _ in range(min(50, requests)):
        client.get(url).raise_for_status()
    took = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url).raise_for_status()
        took.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": statistics.median(took), "p99_ms": percentile(took, 99), "max_ms": max(took)}


async def old_logs_query(mongo: AsyncMongoClient[dict[str, Any]]) -> float | None:
    """The query /api/logs ran before: milliseconds, or None past OLD_QUERY_LIMIT_MS."""
    logs = mongo[DATABASE]["logs"]
    started = time.perf_counter()
    try:
        cursor = logs.find(
            {},
            sort=[("accepted_at", DESCENDING), ("_id", DESCENDING)],
            limit=20,
            max_time_ms=OLD_QUERY_LIMIT_MS,
        )
        _ = [d async for d in cursor]
    except ExecutionTimeout:
        return None
    return (time.perf_counter() - started) * 1000


async def redis_bytes(redis: Redis) -> dict[str, int]:
    """Keys and their bytes (MEMORY USAGE) in the bench's database."""
    keys = [key async for key in redis.scan_iter(count=1000)]
    sizes = [int(await redis.memory_usage(key, samples=0) or 0) for key in keys]
    return {"keys": len(keys), "bytes": sum(sizes)}


async def fill_log(settings: Settings, have: int, size: int, newest: datetime, total: int) -> float:
    """Insert log documents [have, size); returns documents per second."""
    mongo = mongo_client(settings)
    try:
        return await seed_log(mongo[DATABASE]["logs"], have, size, newest, total, progress=True)
    finally:
        await mongo.close()


async def fill_redis(settings: Settings, have: int, size: int, newest: datetime, total: int) -> None:
    """What counting votes [have, size) leaves in Redis: the newest through the script itself."""
    redis = redis_client(settings)
    try:
        recent_from = max(have, size - RECENT)
        await seed_counters(redis, have, recent_from)
        await count_votes(Tally(redis, settings), recent_from, size, newest, total)
    finally:
        await redis.aclose()


async def measure_stores(settings: Settings) -> dict[str, Any]:
    redis, mongo = redis_client(settings), mongo_client(settings)
    try:
        old = await old_logs_query(mongo)
        return {"old_logs_query_ms": old, "redis": await redis_bytes(redis)}
    finally:
        await redis.aclose()
        await mongo.close()


async def reset(settings: Settings, keep: bool, total: int) -> tuple[int, datetime, int]:
    """(documents in the log, newest acceptance, size the seed was planned for). Redis starts
    empty; with --keep the log of an earlier run is reused, else it starts empty too."""
    redis, mongo = redis_client(settings), mongo_client(settings)
    try:
        await redis.flushdb()
        meta = await mongo[DATABASE]["meta"].find_one({"_id": "seed"}, max_time_ms=10_000) if keep else None
        # the seeded size is kept beside the log: a count of the log scans it on FerretDB (minutes)
        have = int(meta.get("seeded", 0)) if meta is not None else 0
        if meta is None or not have:
            await mongo.drop_database(DATABASE)
            meta = {"_id": "seed", "newest": datetime.now(UTC), "total": total}
            await mongo[DATABASE]["meta"].insert_one(meta)
            return 0, meta["newest"], total
        return have, meta["newest"], int(meta["total"])
    finally:
        await redis.aclose()
        await mongo.close()


async def save_seeded(settings: Settings, size: int) -> None:
    mongo = mongo_client(settings)
    try:
        await mongo[DATABASE]["meta"].update_one({"_id": "seed"}, {"$set": {"seeded": size}})
    finally:
        await mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,1000000,10000000", help="stored votes, comma-separated")
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per endpoint and size")
    parser.add_argument("--keep", action="store_true", help="reuse the log seeded by an earlier run")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    settings = settings_for_bench()

    logged, newest, total = asyncio.run(reset(settings, args.keep, max(sizes)))
    counted = 0
    assert max(sizes) <= total, f"the kept log was seeded for at most {total:,} votes; run without --keep"
    results = Service("results", settings).start().wait_ready()
    rows: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=results.base_url, timeout=30) as client:
            for size in sizes:
                print(f">> filling the stores to {size:,} votes", flush=True)
                rate = 0.0
                if size > logged:
                    rate = asyncio.run(fill_log(settings, logged, size, newest, total))
                    logged = size
                    asyncio.run(save_seeded(settings, size))
                asyncio.run(fill_redis(settings, counted, size, newest, total))
                counted = size
                row: dict[str, Any] = {"votes": size, "log_documents": logged, "log_insert_per_s": rate}
                row.update(asyncio.run(measure_stores(settings)))
                row["endpoints"] = {path: time_endpoint(client, path, args.requests) for path in ENDPOINTS}
                rows.append(row)
                print_row(row)
    finally:
        results.stop()
    write_report(rows, args)


def print_row(row: dict[str, Any]) -> None:
    old = row["old_logs_query_ms"]
    old_text = f"> {OLD_QUERY_LIMIT_MS / 1000:.0f} s (maxTimeMS)" if old is None else f"{old:,.0f} ms"
    print(
        f"   {row['votes']:,} votes counted, {row['log_documents']:,} documents in the log; "
        f"Redis: {row['redis']['keys']} keys, {row['redis']['bytes']:,} bytes; "
        f"old /api/logs query: {old_text}"
    )
    for path, t in row["endpoints"].items():
        print(
            f"   {path:<24} p50 {t['p50_ms']:6.2f} ms   p99 {t['p99_ms']:6.2f} ms   max {t['max_ms']:6.2f} ms"
        )


def write_report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results-scale.json").write_text(
        json.dumps({"args": vars(args), "rows": rows}, indent=2, default=str)
    )
    header = "| endpoint | " + " | ".join(f"p99 at {r['votes']:,}" for r in rows) + " |"
    lines = [
        "# Results endpoints against stored votes",
        "",
        f"`python -m bench.results_scale{' --keep' if args.keep else ''} --sizes {args.sizes} "
        f"--requests {args.requests}` "
        f"at {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}; sequential requests, one client, loopback.",
        "",
        header,
        "|---|" + "---:|" * len(rows),
    ]
    for path in ENDPOINTS:
        cells = " | ".join(f"{r['endpoints'][path]['p99_ms']:.1f} ms" for r in rows)
        lines.append(f"| `{path}` | {cells} |")
    old = " | ".join(
        "> 30 s" if r["old_logs_query_ms"] is None else f"{r['old_logs_query_ms']:,.0f} ms" for r in rows
    )
    lines.append(f"| old `/api/logs` query on MongoDB (one run) | {old} |")
    documents = " | ".join(f"{r['log_documents']:,}" for r in rows)
    lines.append(f"| documents in the MongoDB log | {documents} |")
    lines.append(
        "| Redis keys / bytes | "
        + " | ".join(f"{r['redis']['keys']} / {r['redis']['bytes']:,}" for r in rows)
        + " |"
    )
    (OUT / "results-scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

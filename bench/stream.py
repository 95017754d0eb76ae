"""`python -m bench.stream`: the results stream's cost against the number of viewers (issue 22).

For 1, 100 and 1,000 concurrent /api/stream clients on one `votemon results` process: Redis
commands per second (INFO commandstats, the whole server, so run it on a quiet one), the process'
CPU and RSS, and the delay from a vote counted (the consumer's script, votemon.dev.seed) to each
client receiving the event that shows it, p50 and p99. Targets (issue 22): commands/s at 1,000
clients within 1.5x of one client, delay p99 <= 1.5 s at 1,000.

Uses Redis database BENCH_STREAM (votemon.dev.redis_databases) of REDIS_URL's server
(TEST_REDIS_URL's when set); MongoDB is never read.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import random
import time
from typing import Any

import httpx
import psutil
import redis

from bench.stats import percentile
from votemon.dev.eventually import eventually
from votemon.dev.processes import Service, free_port, isolated_settings
from votemon.dev.redis_databases import RedisDatabase, redis_url
from votemon.dev.seed import count_votes
from votemon.dev.sse import Event, stream
from votemon.store.tally import Tally, redis_client
from votemon.votes import utc_now

CLIENTS = (1, 100, 1000)


def total_commands(server: redis.Redis) -> int:
    stats: dict[str, dict[str, int]] = server.info("commandstats")
    return sum(int(stat["calls"]) for stat in stats.values())


WORKER_VIEWERS = 250  # viewers per client process: one Python process alone lags behind 1,000 streams


def first_seen(event: Event, seen: set[str], arrivals: dict[str, list[float]]) -> None:
    """Note when a viewer first saw each vote in the newest list (later states repeat it; two votes
    counted within one tick come in the same state)."""
    if event.name != "state":
        return
    for log in event.data["logs"]:
        if log["id"] not in seen:
            seen.add(log["id"])
            arrivals.setdefault(log["id"], []).append(time.time())


async def follow(client: httpx.AsyncClient, base: str, arrivals: dict[str, list[float]]) -> None:
    async with stream(client, base) as events:
        seen: set[str] = set()
        async for event in events:
            first_seen(event, seen, arrivals)


async def watch(base: str, viewers: int, seconds: float) -> dict[str, list[float]]:
    arrivals: dict[str, list[float]] = {}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=None), limits=limits) as client:
        tasks = [asyncio.create_task(follow(client, base, arrivals)) for _ in range(viewers)]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return arrivals


def viewer_process(base: str, viewers: int, seconds: float) -> dict[str, list[float]]:
    """A client process of its own: `viewers` streams for `seconds`; when each vote reached each."""
    return asyncio.run(watch(base, viewers, seconds))


def metric(results: Service, name: str) -> float:
    """One unlabelled sample of the results process' /metrics."""
    metrics = httpx.get(f"{results.base_url}/metrics", timeout=10).text
    return next(float(line.split()[1]) for line in metrics.splitlines() if line.startswith(f"{name} "))


def all_connected(results: Service, wanted: int) -> bool:
    return metric(results, "results_stream_clients") >= wanted


async def measure(results: Service, tally: Tally, wanted: int, seconds: int, offset: int) -> dict[str, Any]:
    server = redis.Redis.from_url(results.settings.redis_url)
    process = psutil.Process(results.process.pid if results.process else 0)
    loop = asyncio.get_running_loop()
    workers = -(-wanted // WORKER_VIEWERS)
    connect_s = 60.0
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        shares = [wanted // workers + (1 if i < wanted % workers else 0) for i in range(workers)]
        futures = [
            loop.run_in_executor(pool, viewer_process, results.base_url, share, connect_s + seconds + 4)
            for share in shares
        ]
        message = f"{wanted} viewers did not connect"
        await asyncio.to_thread(eventually, lambda: all_connected(results, wanted), message, within=connect_s)
        commands, cpu, started = total_commands(server), process.cpu_times(), time.monotonic()
        drops = metric(results, "results_stream_drops_total")
        counted: dict[str, float] = {}
        for i in range(seconds):
            vote = offset + i
            await count_votes(tally, vote, vote + 1, utc_now(), vote + 1, "bench-stream")
            counted[f"bench-stream-{vote:010d}"] = time.time()
            await asyncio.sleep(random.uniform(0.5, 1.5))  # noqa: S311 - any phase against the tick
        elapsed = time.monotonic() - started
        used = process.cpu_times()
        commands_per_s = (total_commands(server) - commands) / elapsed
        rss = process.memory_info().rss
        drops = metric(results, "results_stream_drops_total") - drops
        arrivals: dict[str, list[float]] = {}
        for found in await asyncio.gather(*futures):
            for vote_id, times in found.items():
                arrivals.setdefault(vote_id, []).extend(times)
    server.close()
    delays = [at - counted[vote] for vote, times in arrivals.items() if vote in counted for at in times]
    return {
        "clients": wanted,
        "redis_commands_per_s": round(commands_per_s, 1),
        "cpu_percent": round(100 * (used.user + used.system - cpu.user - cpu.system) / elapsed, 1),
        "rss_mib": round(rss / 2**20, 1),
        "delay_p50_s": round(percentile(delays, 50), 3) if delays else None,
        "delay_p99_s": round(percentile(delays, 99), 3) if delays else None,
        "deliveries": f"{len(delays)}/{wanted * seconds}",
        "dropped": int(drops),
    }


async def run(seconds: int) -> list[dict[str, Any]]:
    settings = isolated_settings(
        redis_url=redis_url(RedisDatabase.BENCH_STREAM), mongo_uri=f"mongodb://127.0.0.1:{free_port()}/"
    )
    redis.Redis.from_url(settings.redis_url).flushdb()
    results = Service("results", settings).start().wait_ready()
    client = redis_client(settings)
    rows = []
    try:
        for n, viewers in enumerate(CLIENTS):
            rows.append(await measure(results, Tally(client, settings), viewers, seconds, n * seconds))
            print(rows[-1], flush=True)
    finally:
        await client.aclose()
        with contextlib.suppress(Exception):
            results.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20, help="votes counted per size, about one a second")
    args = parser.parse_args()
    rows = asyncio.run(run(args.seconds))
    print("| clients | Redis cmd/s | CPU % | RSS MiB | delay p50 s | delay p99 s | deliveries | dropped |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(value) for value in row.values()) + " |")
    one, most = rows[0]["redis_commands_per_s"], rows[-1]["redis_commands_per_s"]
    ratio, p99, clients = most / max(one, 0.1), rows[-1]["delay_p99_s"], rows[-1]["clients"]
    print(f"Redis cmd/s, {clients} clients / 1 client: {ratio:.2f} (target <= 1.5): {verdict(ratio <= 1.5)}")
    met = p99 is not None and p99 <= 1.5
    print(f"delay p99 at {clients} clients: {p99} s (target <= 1.5 s): {verdict(met)}")


def verdict(met: bool) -> str:
    return "pass" if met else "FAIL"


if __name__ == "__main__":
    main()

"""`python -m bench.overload`: the front at twice its sustained maximum sheds instead of queueing.

Starts the pipeline over the local stack (`make stack`) with the bench's settings, finds the batched
ceiling (closed loop, 100 votes a request), then offers twice that rate open loop and prints: votes
shed (503 + Retry-After), the front's RSS growth, p99 of the accepted requests, /readyz failures,
and whether the tallies in Redis equal the votes answered 202 once the consumer caught up.
The load generator is Python on the same cores (bench/loadgen.py): the rate it reaches is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from typing import Any

import httpx
import psutil
import uvloop

from bench.run import WORK, Plan, Probe, bench_settings, loadgen, pipeline, run_json, write_bodies
from votemon.kafka import create_topics
from votemon.settings import Settings

MIB = 1024 * 1024


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def watch(front: psutil.Process, base: str, load: asyncio.Task[dict[str, Any]]) -> dict[str, float]:
    """Sample the front's RSS and its /readyz every 0.25 s while `load` runs."""
    peak, checks, failures = front.memory_info().rss, 0, 0
    async with httpx.AsyncClient(timeout=2) as client:
        while not load.done():
            peak = max(peak, front.memory_info().rss)
            checks += 1
            try:
                failures += (await client.get(f"{base}/readyz")).status_code != 200
            except httpx.HTTPError:
                failures += 1
            await asyncio.wait({load}, timeout=0.25)
    return {"rss_peak": peak, "readyz_checks": checks, "readyz_failures": failures}


async def amain(seconds: float, connections: int, settings: Settings) -> dict[str, object]:
    await create_topics(settings)
    probe = Probe(settings)
    await probe.start()
    await probe.redis.flushdb()
    _, batch = write_bodies(WORK / "bodies")
    try:
        with pipeline(settings) as services:
            base = f"http://{settings.front_bind}"
            process = services["front"].process
            assert process is not None
            front = psutil.Process(process.pid)
            plan = Plan(warmup=1, duration=5)
            ceiling = await run_json(*loadgen("closed", f"{base}/grpc", batch, plan, concurrency=8))
            await probe.wait_drained(settings.votes_topic)
            rss_before = front.memory_info().rss
            rate = 2 * float(ceiling["throughput"])
            over = Plan(warmup=1, duration=seconds)
            argv = loadgen(
                "open", f"{base}/grpc", batch, over, rate=round(rate, 1), max_connections=connections
            )
            load = asyncio.create_task(run_json(*argv, limit=seconds + 60))
            seen = await watch(front, base, load)
            result = await load
            drained = await probe.wait_drained(settings.votes_topic)
            async with httpx.AsyncClient(timeout=5) as client:
                text = (await client.get(f"{base}/metrics")).text
            accepted, shed = metric(text, "votes_accepted_total"), metric(text, "votes_shed_requests_total")
            counted = await probe.redis_total()
    finally:
        await probe.close()
    window = float(result["window_seconds"])
    latency: dict[str, float] = result["latency"]
    return {
        "limit_votes": settings.front_max_inflight_votes,
        "ceiling_votes_per_s": float(ceiling["throughput"]) * 100,
        "offered_votes_per_s": rate * 100,
        "sent_votes_per_s": sum(result["statuses"].values()) * 100 / window,
        "statuses": result["statuses"],
        "accepted_votes_per_s": float(result["throughput"]) * 100,
        "shed_requests": shed,
        "accepted_p50_ms": latency.get("p50", 0.0) * 1e3,
        "accepted_p99_ms": latency.get("p99", 0.0) * 1e3,
        "rss_before_mib": rss_before / MIB,
        "rss_growth_mib": (seen["rss_peak"] - rss_before) / MIB,
        "readyz_failures": f"{seen['readyz_failures']:.0f} of {seen['readyz_checks']:.0f}",
        "votes_answered_202": accepted,
        "votes_counted": counted,
        "tallies_exact": counted == accepted,
        "drain_seconds": drained,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the overload lasts")
    parser.add_argument("--connections", type=int, default=256, help="the load generator's cap")
    parser.add_argument(
        "--limit", type=int, default=None, help="FRONT_MAX_INFLIGHT_VOTES (default: its default)"
    )
    args = parser.parse_args(argv)
    settings = bench_settings()
    if args.limit is not None:
        settings = settings.model_copy(update={"front_max_inflight_votes": args.limit})
    figures = uvloop.run(amain(args.seconds, args.connections, settings))
    json.dump(figures, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()

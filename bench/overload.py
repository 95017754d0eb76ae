"""`python -m bench.overload`: the front at twice its sustained maximum refuses instead of queueing.

Alone, it starts the pipeline over the local stack (`make stack`) with the bench's settings, finds
the batched ceiling (wrk, closed loop, 100 votes a request), then offers twice that rate open loop
(vegeta) and prints: requests refused at once (503 + Retry-After when the front is full, 429 when
its one client is over its share), the front's RSS growth, p99 of the accepted requests, each
process' collector pauses during the load, /readyz failures, and whether the votes counted in Redis
equal the votes answered 202 once the consumer caught up. `python -m bench` runs the same overload
at twice its T4 rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httpx
import psutil
import uvloop

from bench.harness import WORK, Probe, Service, bench_settings, gc_pauses, pipeline
from bench.load import BATCH_SIZE, Bodies, vegeta, wrk
from bench.stats import histograms_since
from votemon.dev.prometheus_text import metric
from votemon.kafka import create_topics
from votemon.settings import Settings

MIB = 1024 * 1024


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


async def refused_requests(probe: Probe, front: Service) -> float:
    """Requests the front answered at once, nothing of them sent: shed (503, its in-flight limit) or
    throttled (429, the client's share of it). The bench is one client, so its overload meets the
    share first."""
    page = await probe.metrics(front.settings.front_bind)
    return metric(page, "votes_shed_requests_total") + metric(page, "votes_throttled_requests_total")


async def overload(
    probe: Probe, front: Service, bodies: Bodies, votes_per_second: float, seconds: float, connections: int
) -> dict[str, Any]:
    """Offer `votes_per_second` in batches for `seconds`, open loop; the figures of issue 14's item 3.

    The tallies compare the votes vegeta saw answered 202 (it waits for every answer) with the votes
    counted in Redis from before the load until the consumer caught up: the pipeline must be idle
    and drained when this starts."""
    assert front.process is not None
    process = psutil.Process(front.process.pid)
    base = front.base_url
    rss_before = process.memory_info().rss
    counted_before = await probe.redis_total()
    refused_before = await refused_requests(probe, front)
    observed_before = await probe.histograms()
    load = asyncio.create_task(
        vegeta(
            f"{base}/grpc",
            bodies.batch,
            votes_per_second / BATCH_SIZE,
            seconds,
            connections,
            WORK / "overload",
        )
    )
    seen = await watch(process, base, load)
    result = await load
    observed = histograms_since(await probe.histograms(), observed_before)
    drained = await probe.wait_drained()
    refused = await refused_requests(probe, front) - refused_before
    counted = await probe.redis_total() - counted_before
    answered = result["ok"] * BATCH_SIZE
    return {
        "limit_votes": front.settings.front_max_inflight_votes,
        "offered_votes_per_s": result["rate"] * BATCH_SIZE,
        "sent_votes_per_s": result["sent_rate"] * BATCH_SIZE,
        "accepted_votes_per_s": result["throughput"] * BATCH_SIZE,
        "statuses": result["statuses"],
        "refused_requests": refused,
        "accepted_p50_ms": result["latency"]["p50"] * 1e3,
        "accepted_p99_ms": result["latency"]["p99"] * 1e3,
        "rss_before_mib": rss_before / MIB,
        "rss_growth_mib": (seen["rss_peak"] - rss_before) / MIB,
        "readyz_checks": seen["readyz_checks"],
        "readyz_failures": seen["readyz_failures"],
        "votes_answered_202": answered,
        "votes_counted": counted,
        "tallies_exact": counted == answered,
        "drain_seconds": drained,
        "gc_pauses": {
            name: {"count": observed[name].count, "seconds": observed[name].total}
            for name in gc_pauses("front", "grpc", "consumer")
            if name in observed
        },
    }


async def alone(
    seconds: float, connections: int, settings: Settings, votes_per_second: float | None
) -> dict[str, Any]:
    await create_topics(settings)
    probe = Probe(settings)
    await probe.start()
    await probe.redis.flushdb()
    bodies = Bodies.write(WORK / "bodies")
    try:
        with pipeline(settings) as services:
            front = services["front"]
            ceiling = await wrk(f"{front.base_url}/grpc", bodies.batch, 8, 8)
            await probe.wait_drained()
            rate = votes_per_second or 2 * float(ceiling["throughput"]) * BATCH_SIZE
            figures = await overload(probe, front, bodies, rate, seconds, connections)
    finally:
        await probe.close()
    return {"ceiling_votes_per_s": float(ceiling["throughput"]) * BATCH_SIZE} | figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the overload lasts")
    parser.add_argument("--connections", type=int, default=256, help="the load generator's cap")
    parser.add_argument(
        "--limit", type=int, default=None, help="FRONT_MAX_INFLIGHT_VOTES (default: its default)"
    )
    parser.add_argument(
        "--votes-per-second",
        type=float,
        default=None,
        help="the rate offered (default: twice the ceiling measured first); fixed, to compare builds",
    )
    args = parser.parse_args(argv)
    settings = bench_settings()
    if args.limit is not None:
        settings = settings.model_copy(update={"front_max_inflight_votes": args.limit})
    figures = uvloop.run(alone(args.seconds, args.connections, settings, args.votes_per_second))
    json.dump(figures, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()

"""`python -m bench`: start the pipeline as real processes beside the baselines, load them, print the table.

Everything runs on loopback against the local stack (`make stack`), with topics, a consumer group,
Redis database 14 and a MongoDB database of the run's own: the tests (DB 15) and the demo (DB 0)
are never touched. Every load is bounded in time; the run writes docs/bench/latest.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from bench.stats import (
    Row,
    bucket_delta,
    histogram_quantile,
    markdown_table,
    median,
    parse_histogram,
    ratio,
    text_table,
)
from votemon.dev.processes import ROOT, Service, environment, free_port, isolated_settings
from votemon.kafka import create_topics
from votemon.settings import Settings

PY = sys.executable
# The stack's Redis (REDIS_URL, as the settings read it), database 14: the bench's own.
BENCH_REDIS_URL = str(httpx.URL(Settings().redis_url).copy_with(path="/14"))
WORK = ROOT / ".local" / "bench"
BATCH_SIZE = 100


@dataclass(frozen=True)
class Plan:
    repeats: int = 3
    warmup: float = 2.0
    duration: float = 6.0
    concurrency: int = 32
    batch_concurrency: int = 4
    max_connections: int = 64
    backlog: int = 30_000
    profile_seconds: float = 0.0


# ---------------------------------------------------------------- request bodies


def vote(i: int) -> dict[str, Any]:
    return {"name": f"Band {i % 64}", "album": f"Album {i % 7}", "year": 1990 + i % 30, "rank": 9.5}


def write_bodies(directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    single, batch = directory / "single.jsonl", directory / "batch.jsonl"
    single.write_bytes(b"\n".join(orjson.dumps(vote(i)) for i in range(64)) + b"\n")
    batch.write_bytes(
        b"\n".join(orjson.dumps([vote(b * BATCH_SIZE + i) for i in range(BATCH_SIZE)]) for b in range(8))
        + b"\n"
    )
    return single, batch


# ---------------------------------------------------------------- processes


async def run_json(*argv: str, env: dict[str, str] | None = None, limit: float = 180) -> dict[str, Any]:
    """Run a bench helper process and return the JSON object it prints."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {process.returncode}: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


def loadgen(mode: str, url: str, body: Path, plan: Plan, **options: float) -> list[str]:
    argv = [PY, "-m", "bench.loadgen", mode, "--url", url, "--body", str(body)]
    argv += ["--warmup", str(options.pop("warmup", plan.warmup))]
    argv += ["--duration", str(options.pop("duration", plan.duration))]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


class CeilingApp:
    """The trivial Quart app, in its own process."""

    def __init__(self) -> None:
        self.bind = f"127.0.0.1:{free_port()}"
        log = (ROOT / ".local" / "log" / "tests").resolve()
        log.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - our own module
            [PY, "-m", "bench.ceiling_app", "--bind", self.bind],
            cwd=ROOT,
            stdout=(log / "bench-ceiling.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{self.bind}/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError("the ceiling app did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


# ---------------------------------------------------------------- probes of the pipeline


class Probe:
    """Reads the topic ends from Kafka and the counted offsets and totals from Redis and MongoDB."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = Redis.from_url(BENCH_REDIS_URL, decode_responses=True)
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri)
        self.kafka = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)

    async def start(self) -> None:
        await self.kafka.start()

    async def close(self) -> None:
        await self.kafka.stop()
        await self.redis.aclose()
        await self.mongo.close()

    async def end_offsets(self, topic: str) -> dict[int, int]:
        await self.kafka._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in sorted(self.kafka.partitions_for_topic(topic) or [])]
        ends = await self.kafka.end_offsets(partitions)
        return {tp.partition: offset for tp, offset in ends.items()}

    async def counted_offsets(self, topic: str, partitions: list[int]) -> dict[int, int]:
        values = await self.redis.hmget("votes:offsets", [f"{topic}:{p}" for p in partitions])
        return {p: int(v or 0) for p, v in zip(partitions, values, strict=True)}

    async def lag(self, topic: str) -> int:
        ends = await self.end_offsets(topic)
        counted = await self.counted_offsets(topic, sorted(ends))
        return sum(ends.values()) - sum(counted.values())

    async def redis_total(self) -> int:
        return int(await self.redis.get("votes:total") or 0)

    async def mongo_total(self) -> int:
        return await self.mongo[self.settings.mongo_database]["logs"].count_documents({})

    async def freshness(self) -> dict[float, float]:
        async with httpx.AsyncClient() as client:
            reply = await client.get(f"http://{self.settings.consumer_metrics_bind}/metrics", timeout=5)
        return parse_histogram(reply.text, "votes_freshness_seconds")

    async def wait_drained(self, topic: str, limit: float = 90) -> float:
        """Wait until the consumer counted everything produced; returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            if await self.lag(topic) <= 0:
                return time.monotonic() - started
            await asyncio.sleep(0.1)
        return math.nan


@contextlib.contextmanager
def pipeline(settings: Settings) -> Iterator[dict[str, Service]]:
    services = {name: Service(name, settings) for name in ("grpc-server", "consumer", "front")}
    try:
        for service in services.values():
            service.start()
        for service in services.values():
            service.wait_ready()
        yield services
    finally:
        for service in services.values():
            if service.process is not None:
                with contextlib.suppress(Exception):
                    service.stop()


# ---------------------------------------------------------------- the measures


async def windowed(probe: Probe, plan: Plan, argv: list[str], sample: bool = True) -> dict[str, Any]:
    """Run one load process and sample lag/totals/freshness at the start and end of its window."""
    topic = probe.settings.votes_topic
    task = asyncio.create_task(run_json(*argv))
    await asyncio.sleep(plan.warmup)
    before = await sample_state(probe, topic) if sample else {}
    await asyncio.sleep(plan.duration)
    after = await sample_state(probe, topic) if sample else {}
    result = await task
    if sample:
        window = after["at"] - before["at"]
        fresh = bucket_delta(after["freshness"], before["freshness"])
        result["pipeline"] = {
            "window_seconds": window,
            "lag_start": before["lag"],
            "lag_end": after["lag"],
            "redis_rate": (after["redis"] - before["redis"]) / window,
            "mongo_rate": (after["mongo"] - before["mongo"]) / window,
            "freshness_p50": histogram_quantile(0.5, fresh),
            "freshness_p99": histogram_quantile(0.99, fresh),
            "freshness_count": max(fresh.values(), default=0.0),
        }
    return result


async def sample_state(probe: Probe, topic: str) -> dict[str, Any]:
    lag, redis, mongo, fresh = await asyncio.gather(
        probe.lag(topic), probe.redis_total(), probe.mongo_total(), probe.freshness()
    )
    return {"at": time.monotonic(), "lag": lag, "redis": redis, "mongo": mongo, "freshness": fresh}


def sustained(result: dict[str, Any]) -> float:
    """Accepted req/s if the consumer kept up (lag flat: grew < 5% of the window's votes), else
    the rate at which the pipeline really counted."""
    accepted = float(result["throughput"])
    pipe = result["pipeline"]
    growth = pipe["lag_end"] - pipe["lag_start"]
    result["lag_flat"] = growth <= 0.05 * accepted * pipe["window_seconds"]
    return accepted if result["lag_flat"] else min(accepted, pipe["redis_rate"])


async def measure(plan: Plan, settings: Settings, say: Any) -> dict[str, Any]:
    bodies = WORK / "bodies"
    single, batch = write_bodies(bodies)
    ceiling = CeilingApp()
    probe = Probe(settings)
    await probe.start()
    raw: dict[str, Any] = {"ceiling": [], "single": [], "open_ours": [], "open_ceiling": [], "batch": []}
    raw["drain"] = []
    try:
        with pipeline(settings) as services:
            ours_url = f"http://{settings.front_bind}/grpc"
            ceiling_url = f"http://{ceiling.bind}/grpc"
            say("warming up")
            warm = Plan(warmup=1, duration=2, concurrency=plan.concurrency)
            for url in (ceiling_url, ours_url):
                await run_json(*loadgen("closed", url, single, warm, concurrency=plan.concurrency))
            await probe.wait_drained(settings.votes_topic)
            if plan.profile_seconds:
                raw["profile"] = await profile(plan, services, ours_url, single, batch)
                return raw
            for i in range(plan.repeats):
                run = await windowed(
                    probe,
                    plan,
                    loadgen("closed", ceiling_url, single, plan, concurrency=plan.concurrency),
                    False,
                )
                raw["ceiling"].append(run)
                run = await windowed(
                    probe, plan, loadgen("closed", ours_url, single, plan, concurrency=plan.concurrency)
                )
                run["sustained"] = sustained(run)
                raw["single"].append(run)
                say(
                    f"pair {i + 1}: ceiling {run_rate(raw['ceiling'][-1])} req/s, "
                    f"ours {run['sustained']:.0f} req/s"
                )
                await probe.wait_drained(settings.votes_topic)
            half = 0.5 * median(r["sustained"] for r in raw["single"])
            for i in range(plan.repeats):
                options = {"rate": round(half, 1), "max_connections": plan.max_connections}
                run = await windowed(probe, plan, loadgen("open", ours_url, single, plan, **options))
                raw["open_ours"].append(run)
                ceil = await windowed(
                    probe, plan, loadgen("open", ceiling_url, single, plan, **options), False
                )
                raw["open_ceiling"].append(ceil)
                say(
                    f"open loop {half:.0f}/s {i + 1}: ours p99 {run['latency']['p99'] * 1000:.1f} ms, "
                    f"ceiling p99 {ceil['latency']['p99'] * 1000:.1f} ms, "
                    f"freshness p99 {run['pipeline']['freshness_p99'] * 1000:.0f} ms"
                )
                await probe.wait_drained(settings.votes_topic)
            for i in range(plan.repeats):
                run = await windowed(
                    probe, plan, loadgen("closed", ours_url, batch, plan, concurrency=plan.batch_concurrency)
                )
                run["drain_seconds"] = await probe.wait_drained(settings.votes_topic)
                raw["batch"].append(run)
                pipe = run["pipeline"]
                say(
                    f"batched {i + 1}: accepted {run['throughput'] * BATCH_SIZE:.0f} votes/s, "
                    f"redis {pipe['redis_rate']:.0f}/s, mongo {pipe['mongo_rate']:.0f}/s"
                )
        for i in range(plan.repeats):
            run = await drain_pair(plan, settings, probe)
            raw["drain"].append(run)
            say(
                f"kafka {i + 1}: producer {run['produce']['rate']:.0f}/s, bare getmany "
                f"{run['getmany']['rate']:.0f}/s, consumer drain {run['consumer']['rate']:.0f}/s"
            )
    finally:
        ceiling.stop()
        await probe.close()
    return raw


def run_rate(run: dict[str, Any]) -> str:
    return f"{run['throughput']:.0f}"


async def drain_pair(plan: Plan, settings: Settings, probe: Probe) -> dict[str, Any]:
    """Pre-produce a backlog (the bare producer ceiling), then drain it bare and with the consumer."""
    tag = uuid.uuid4().hex[:6]
    drain = settings.model_copy(
        update={
            "votes_topic": f"{settings.votes_topic}-drain-{tag}",
            "dead_letter_topic": f"{settings.dead_letter_topic}-drain-{tag}",
            "consumer_group": f"{settings.consumer_group}-drain-{tag}",
            "consumer_metrics_bind": f"127.0.0.1:{free_port()}",
        }
    )
    await create_topics(drain)
    env = environment(drain)
    topic, count = drain.votes_topic, plan.backlog
    produced = await run_json(
        PY, "-m", "bench.kafka_bench", "produce", "--topic", topic, "--count", str(count), env=env
    )
    bare = await run_json(
        PY, "-m", "bench.kafka_bench", "getmany", "--topic", topic, "--count", str(count),
        "--group", f"{drain.consumer_group}-bare", env=env,
    )  # fmt: skip
    consumer = Service("consumer", drain).start()
    try:
        counted = await consumer_drain(probe, topic, count)
    finally:
        consumer.stop()
    return {"produce": produced, "getmany": bare, "consumer": counted}


async def consumer_drain(probe: Probe, topic: str, count: int, limit: float = 120) -> dict[str, float]:
    """Poll the counted offsets in Redis; the rate is timed from the first progress seen."""
    partitions = sorted(await probe.end_offsets(topic))
    first = 0
    first_at = last_at = 0.0
    deadline = time.monotonic() + limit
    done = 0
    while time.monotonic() < deadline:
        done = sum((await probe.counted_offsets(topic, partitions)).values())
        now = time.perf_counter()
        if done and not first:
            first, first_at = done, now
        if done >= count:
            last_at = now
            break
        await asyncio.sleep(0.02)
    seconds = last_at - first_at
    rate = (done - first) / seconds if seconds > 0 and done >= count else math.nan
    return {"records": done, "seconds": seconds, "rate": rate}


# ---------------------------------------------------------------- profiling


# py-spy is no dependency: `pip install --target DIR py-spy`, then PYSPY=DIR/bin/py-spy
PYSPY = os.environ.get("PYSPY") or shutil.which("py-spy") or "py-spy"


async def profile(
    plan: Plan, services: dict[str, Service], url: str, single: Path, batch: Path
) -> dict[str, Any]:
    """py-spy record (raw collapsed stacks) every service while one load runs; see bench.profile."""
    out = ROOT / "docs" / "bench" / "profile"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for kind, body, concurrency in (
        ("single", single, plan.concurrency),
        ("batch", batch, plan.batch_concurrency),
    ):
        seconds = plan.profile_seconds
        load = asyncio.create_task(
            run_json(
                *loadgen("closed", url, body, plan, warmup=1, duration=seconds + 2, concurrency=concurrency)
            )
        )
        await asyncio.sleep(1)
        spies = []
        for name, service in services.items():
            assert service.process is not None
            path = out / f"{kind}-{name}.txt"
            argv = [PYSPY, "record", "--format", "raw", "--rate", "200", "--duration", str(int(seconds))]
            argv += ["--pid", str(service.process.pid), "--output", str(path), "--nonblocking"]
            spies.append(
                await asyncio.create_subprocess_exec(
                    *argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        for spy in spies:
            await spy.wait()
        results[kind] = await load
    return results


# ---------------------------------------------------------------- the table and the manifest


def rows(raw: dict[str, Any]) -> list[Row]:
    ceiling = median(r["throughput"] for r in raw["ceiling"])
    ours = median(r["sustained"] for r in raw["single"])
    p50 = median(r["latency"]["p50"] for r in raw["open_ours"]) * 1000
    p99 = median(r["latency"]["p99"] for r in raw["open_ours"]) * 1000
    ceiling_p99 = median(r["latency"]["p99"] for r in raw["open_ceiling"]) * 1000
    rate = raw["open_ours"][0]["rate"] if raw["open_ours"] else math.nan
    redis_rate = median(r["pipeline"]["redis_rate"] for r in raw["batch"])
    mongo_rate = median(r["pipeline"]["mongo_rate"] for r in raw["batch"])
    accepted = median(r["throughput"] * BATCH_SIZE for r in raw["batch"])
    fresh = median(r["pipeline"]["freshness_p99"] for r in raw["open_ours"]) * 1000
    produce = median(r["produce"]["rate"] for r in raw["drain"])
    bare = median(r["getmany"]["rate"] for r in raw["drain"])
    drain = median(r["consumer"]["rate"] for r in raw["drain"])
    drain_ratio = median(ratio(r["consumer"]["rate"], r["getmany"]["rate"]) for r in raw["drain"])
    pair_ratio = median(
        ratio(o["sustained"], c["throughput"]) for o, c in zip(raw["single"], raw["ceiling"], strict=True)
    )
    flat = sum(bool(r.get("lag_flat")) for r in raw["single"])
    return [
        Row("(1) HTTP ceiling: trivial Quart POST", ceiling, "req/s"),
        Row(
            "(2) single vote POST /grpc, sustained",
            ours,
            "req/s",
            detail=f"lag flat in {flat}/{len(raw['single'])}",
        ),
        Row("(2) ÷ (1) throughput", pair_ratio, "", 0.6, detail="median of paired ratios"),
        Row(f"(2) p50 at 50% load ({rate:.0f} req/s, open loop)", p50, "ms"),
        Row(
            "(2) p99 at 50% load (open loop)",
            p99,
            "ms",
            50,
            False,
            f"ceiling app at same rate: {ceiling_p99:.1f} ms",
        ),
        Row(
            "(3) batched 100/request, counted in Redis",
            redis_rate,
            "votes/s",
            15_000,
            detail=f"accepted {accepted:,.0f}/s",
        ),
        Row("(3) batched 100/request, logged in MongoDB", mongo_rate, "votes/s", 15_000),
        Row("(4) freshness p99 (accepted → Redis), 50% load", fresh, "ms", 250, False, "consumer histogram"),
        Row("(5) bare aiokafka producer (make_producer)", produce, "records/s"),
        Row("(5) bare getmany loop", bare, "records/s"),
        Row("(5) consumer draining a backlog", drain, "votes/s"),
        Row("(5) consumer drain ÷ bare getmany", drain_ratio, "", 0.25, detail="median of paired ratios"),
    ]


def git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - a fixed git command
        ["git", *args],  # noqa: S607 - git from PATH, as make does
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def manifest(settings: Settings, plan: Plan, started: float) -> dict[str, Any]:
    jars = sorted((ROOT / "stack" / "kafka" / "target" / "dependency").glob("kafka_*.jar"))
    packages = [
        "aiokafka",
        "grpcio",
        "quart",
        "hypercorn",
        "uvloop",
        "orjson",
        "redis",
        "pymongo",
        "pydantic",
    ]
    return {
        "git_sha": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "command": "make bench  # = .venv/bin/python -m bench " + " ".join(sys.argv[1:]),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "python": platform.python_version(),
        "versions": {name: version(name) for name in packages},
        "kafka_broker": jars[0].name.removesuffix(".jar") if jars else "unknown",
        "machine": {
            "nproc": os.cpu_count(),
            "mem_bytes": psutil.virtual_memory().total,
            "platform": platform.platform(),
            "loadavg_end": os.getloadavg(),
        },
        "plan": asdict(plan),
        "settings": settings.model_dump(mode="json", exclude={"redis_password", "mongo_password"}),
    }


def write_results(out: Path, table: list[Row], raw: dict[str, Any], meta: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    document = {"manifest": meta, "rows": [asdict(r) | {"verdict": r.verdict} for r in table], "runs": raw}
    (out / "latest.json").write_bytes(
        orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    machine = meta["machine"]
    text = [
        "# Benchmark: latest run",
        "",
        f"`{meta['command']}` at {meta['started_utc']} on {meta['git_sha'][:10]}"
        f"{' (dirty)' if meta['git_dirty'] else ''}, {meta['seconds']} s.",
        "",
        markdown_table(table),
        "",
        f"Machine: {machine['nproc']} cores, {machine['mem_bytes'] / 2**30:.1f} GiB, everything on loopback; "
        f"load average at the end {', '.join(f'{v:.1f}' for v in machine['loadavg_end'])}. "
        f"Python {meta['python']}; {versions}; Kafka {meta['kafka_broker']}.",
        "",
        f"Median of {meta['plan']['repeats']} paired runs, {meta['plan']['warmup']} s warm-up + "
        f"{meta['plan']['duration']} s window each. Raw runs and settings: latest.json.",
        "",
    ]
    (out / "latest.md").write_text("\n".join(text))


def bench_settings() -> Settings:
    run = uuid.uuid4().hex[:8]
    return isolated_settings(
        votes_topic=f"votes-submitted-bench-{run}",
        dead_letter_topic=f"votes-dead-letter-bench-{run}",
        consumer_group=f"vote-counter-bench-{run}",
        redis_url=BENCH_REDIS_URL,
        mongo_database=f"votes_bench_{run}",
        grpc_deadline_seconds=5.0,
        produce_timeout_seconds=4.0,
    )


async def amain(plan: Plan, out: Path) -> int:
    started = time.time()

    def say(message: str) -> None:
        print(f"[{time.time() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    settings = bench_settings()
    redis = Redis.from_url(BENCH_REDIS_URL)
    await redis.flushdb()  # database 14 is the bench's own
    await redis.aclose()
    await create_topics(settings)
    say(f"topic {settings.votes_topic}, redis db 14, mongo {settings.mongo_database}")
    raw = await measure(plan, settings, say)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri)
    await mongo.drop_database(settings.mongo_database)
    await mongo.close()
    if plan.profile_seconds:
        say("profiles written to docs/bench/profile/; summarise with python -m bench.profile")
        return 0
    table = rows(raw)
    write_results(out, table, raw, manifest(settings, plan, started))
    print(text_table(table))
    say(f"wrote {out / 'latest.json'} and {out / 'latest.md'}")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=Plan.repeats)
    parser.add_argument("--warmup", type=float, default=Plan.warmup)
    parser.add_argument("--duration", type=float, default=Plan.duration)
    parser.add_argument("--concurrency", type=int, default=Plan.concurrency)
    parser.add_argument("--backlog", type=int, default=Plan.backlog)
    parser.add_argument("--quick", action="store_true", help="one short run of each (a smoke test)")
    parser.add_argument(
        "--profile", type=float, default=0.0, metavar="SECONDS", help="py-spy the services instead"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench")
    args = parser.parse_args(argv)
    plan = Plan(
        repeats=args.repeats,
        warmup=args.warmup,
        duration=args.duration,
        concurrency=args.concurrency,
        backlog=args.backlog,
        profile_seconds=args.profile,
    )
    if args.quick:
        plan = Plan(repeats=1, warmup=1, duration=3, concurrency=args.concurrency, backlog=10_000)
    sys.exit(uvloop.run(amain(plan, args.out)))

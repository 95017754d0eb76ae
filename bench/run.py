"""`python -m bench`: the pipeline as real processes beside a trivial Quart app and the bare libraries,
loaded by wrk (closed loop) and vegeta (open loop); prints targets T1-T6 and the overload figures.

Everything runs on loopback against the local stack (`make stack`), with topics, a consumer group,
Redis databases (14, and 12 for the floors) and MongoDB databases of the run's own: the tests (15)
and the demo (0) are never touched. CPU seconds per process come from /proc, so each measure is a
cost per request, vote or record, beside the libraries' floors measured in the same pair of runs.
Writes docs/bench/latest.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson
import psutil
import uvloop
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from bench.cpu import STACK_PROCESSES, CpuMeter, stack_pids
from bench.harness import (
    FLOORS_REDIS_URL,
    FRESHNESS,
    FRESHNESS_STAGES,
    REQUEST,
    ROOT,
    VOTE_STAGES,
    WORK,
    Probe,
    Service,
    bench_settings,
    environment,
    free_port,
    pipeline,
)
from bench.load import BATCH_SIZE, LOAD_TOOLS, Bodies, ToolMissingError, tool, vegeta, wrk
from bench.overload import overload
from bench.stats import (
    NOTHING,
    Row,
    StageRow,
    breakdown,
    cpu_per_unit,
    histograms_since,
    markdown_table,
    median,
    ratio,
    stage_markdown_table,
    stage_text_table,
    text_table,
)
from votemon.dev.prometheus_text import histogram_quantile
from votemon.kafka import create_topics
from votemon.settings import Settings

PY = sys.executable
# the services whose CPU is the vote's path, and what else the meter reads
INGEST = ("front", "grpc-server")
COUNTING = ("front", "grpc-server", "consumer")
TRIVIAL = "trivial Quart app"
VOTE_BREAKDOWN = (VOTE_STAGES, REQUEST)
FRESHNESS_BREAKDOWN = (FRESHNESS_STAGES, FRESHNESS)


@dataclass(frozen=True)
class Plan:
    """How long and how hard each measure loads the pipeline."""

    # paired runs (trivial, single, batched, floors): how many, and seconds of each wrk run
    pairs: int = 3
    seconds: float = 8.0
    # wrk's connections for single votes (trivial app and ours) and for 100-vote batches
    connections: int = 32
    batch_connections: int = 8
    floor_records: int = 50_000  # records each floor runs through
    # vegeta: T4 and the overload last hold_seconds, T5 and T6 open_seconds
    hold_seconds: float = 60.0
    # the search for the highest rate held: how many probes after T4, and seconds of each
    search_probes: int = 4
    probe_seconds: float = 20.0
    open_seconds: float = 10.0
    open_connections: int = 64
    overload_connections: int = 256


def ceiling_app() -> Service:
    """The trivial Quart app (bench/ceiling_app.py) in its own process, ready."""
    bind = f"127.0.0.1:{free_port()}"
    command = [PY, "-m", "bench.ceiling_app", "--bind", bind]
    ready = f"http://{bind}/readyz"
    return Service("bench-ceiling", Settings(), WORK / "log", command, ready_url=ready).restart()


@dataclass
class Bench:
    plan: Plan
    settings: Settings
    probe: Probe
    meter: CpuMeter
    bodies: Bodies
    ours: str
    trivial: str

    async def closed(
        self, url: str, bodies: list[Path], connections: int, per_request: int = 1
    ) -> dict[str, Any]:
        """One wrk run; CPU per vote of every process until the consumer counted all it accepted."""
        before = self.meter.read()
        result = await wrk(url, bodies, connections, self.plan.seconds)
        drain = await self.probe.wait_drained() if url == self.ours else 0.0
        votes = result["ok"] * per_request
        result |= {
            "votes": votes,
            "drain_seconds": drain,
            "sustained": votes / (result["seconds"] + drain),
            "cpu_us": cpu_per_unit(before, self.meter.read(), votes),
            "loadavg": os.getloadavg()[0],
        }
        return result

    async def floors(self, pair: int) -> dict[str, Any]:
        """bench/floors.py on a topic and databases of its own; the servers' CPU per record beside it."""
        scratch = self.settings.model_copy(
            update={
                "votes_topic": f"{self.settings.votes_topic}-floors-{pair}",
                "dead_letter_topic": f"{self.settings.dead_letter_topic}-floors-{pair}",
                "redis_url": FLOORS_REDIS_URL,
                "mongo_database": f"{self.settings.mongo_database}_floors",
            }
        )
        await create_topics(scratch)
        before = self.meter.read()
        process = await asyncio.create_subprocess_exec(
            PY, "-m", "bench.floors", "--records", str(self.plan.floor_records),
            stdout=subprocess.PIPE, env=environment(scratch), cwd=ROOT,
        )  # fmt: skip
        out, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"bench.floors exited {process.returncode}")
        steps: dict[str, Any] = orjson.loads(out)
        servers = cpu_per_unit(before, self.meter.read(), self.plan.floor_records)
        floors = {step: figures["cpu_seconds"] / figures["records"] * 1e6 for step, figures in steps.items()}
        return {"steps": steps, "cpu_us": floors, "servers_cpu_us": servers}

    async def hold(self, votes_per_second: float, seconds: float) -> dict[str, Any]:
        """T4: batches open loop for `seconds`; lag sampled 5 s in and at the end, then the drain."""
        before = self.meter.read()
        load = asyncio.create_task(
            vegeta(self.ours, self.bodies.batch, votes_per_second / BATCH_SIZE, seconds,
                   self.plan.open_connections, WORK / "hold")
        )  # fmt: skip
        await asyncio.wait({load}, timeout=5)
        lag_start = await self.probe.lag()
        await asyncio.wait({load}, timeout=seconds - 5.5)
        lag_end = await self.probe.lag()
        result = await load
        drain = await self.probe.wait_drained()
        after = self.meter.read()
        accepted = result["throughput"] * BATCH_SIZE
        flat = lag_end - lag_start <= 0.05 * accepted * (seconds - 5.5)
        kept_up = flat and drain <= 2.0
        result |= {
            "lag_start": lag_start,
            "lag_end": lag_end,
            "drain_seconds": drain,
            "kept_up": kept_up,
            "counted_rate": result["ok"] * BATCH_SIZE / (seconds + drain),
            "cores": {name: (after[name] - before[name]) / (seconds + drain) for name in after},
            "loadavg": os.getloadavg()[0],
        }
        result["value"] = accepted if kept_up else result["counted_rate"]
        return result

    async def highest_held(self, t4: dict[str, Any], say: Callable[[str], None]) -> dict[str, Any]:
        """The highest batched rate held (as T4: lag flat, drained within 2 s), by search from T4's
        run (next_probe); `held` is what that run accepted, as T4's value is."""
        best: dict[str, Any] | None = t4 if t4["kept_up"] else None
        missed = None if t4["kept_up"] else t4["rate"] * BATCH_SIZE
        probes = []
        for _ in range(self.plan.search_probes):
            rate = next_probe(best["rate"] * BATCH_SIZE if best else None, missed)
            probe = await self.hold(rate, self.plan.probe_seconds)
            probes.append(probe)
            say(f"search: {rate:.0f} votes/s {'held' if probe['kept_up'] else 'not held'}")
            if probe["kept_up"]:
                best = probe
            else:
                missed = rate
        return {"held": best["value"] if best else 0.0, "missed": missed, "probes": probes}

    async def open_loop(
        self,
        url: str,
        bodies: list[Path],
        rate: float,
        work: str,
        stages: tuple[tuple[str, ...], str] | None = None,
    ) -> dict[str, Any]:
        """An open-loop run at `rate` requests/s, with the consumer's freshness over its window and
        the breakdown of `stages` (in order, and their whole) from the services' histograms."""
        before = await self.probe.histograms()
        result = await vegeta(
            url, bodies, rate, self.plan.open_seconds, self.plan.open_connections, WORK / work
        )
        if url == self.ours:
            await self.probe.wait_drained()
        observed = histograms_since(await self.probe.histograms(), before)
        fresh = observed.get(FRESHNESS, NOTHING).buckets
        return result | {
            "freshness_p99": histogram_quantile(0.99, fresh),
            "stages": [asdict(row) for row in breakdown(observed, *stages)] if stages else [],
            "loadavg": os.getloadavg()[0],
        }


def next_probe(held: float | None, missed: float | None) -> float:
    """The search's next rate: 20 % above the highest rate held while none was missed, 20 % below
    the lowest missed while none was held, then halfway between the two."""
    if held is not None and missed is not None:
        return (held + missed) / 2
    if held is not None:
        return held * 1.2
    if missed is not None:
        return missed / 1.2
    raise ValueError("the search starts from T4's run, held or not")


async def measure(plan: Plan, settings: Settings, say: Any) -> dict[str, Any]:
    bodies = Bodies.write(WORK / "bodies")
    ceiling = ceiling_app()
    probe = Probe(settings)
    await probe.start()
    raw: dict[str, Any] = {"trivial": [], "single": [], "batch": [], "floors": []}
    try:
        with pipeline(settings) as services:
            pids = {name: service_pid(service) for name, service in services.items()}
            pids |= {TRIVIAL: service_pid(ceiling)} | stack_pids(ROOT / ".local")
            bench = Bench(
                plan, settings, probe, CpuMeter(pids), bodies,
                f"http://{settings.front_bind}/grpc", f"{ceiling.base_url}/grpc",
            )  # fmt: skip
            say("warming up")
            for url in (bench.trivial, bench.ours):
                await wrk(url, bodies.single, plan.connections, 2)
            await probe.wait_drained()
            for pair in range(1, plan.pairs + 1):
                trivial = await bench.closed(bench.trivial, bodies.single, plan.connections)
                single = await bench.closed(bench.ours, bodies.single, plan.connections)
                batch = await bench.closed(bench.ours, bodies.batch, plan.batch_connections, BATCH_SIZE)
                floors = await bench.floors(pair)
                for name, run in (
                    ("trivial", trivial),
                    ("single", single),
                    ("batch", batch),
                    ("floors", floors),
                ):
                    raw[name].append(run)
                say(
                    f"pair {pair}: trivial {trivial['throughput']:.0f} req/s, "
                    f"single {single['throughput']:.0f} req/s, "
                    f"batched {batch['sustained']:.0f} votes/s, load {batch['loadavg']:.1f}"
                )
            sustained = median(r["sustained"] for r in raw["batch"])
            say(f"holding {sustained:.0f} votes/s for {plan.hold_seconds:g} s (T4)")
            raw["hold"] = await bench.hold(sustained, plan.hold_seconds)
            t4 = raw["hold"]["value"]
            say(f"T4 {t4:.0f} votes/s, kept up: {raw['hold']['kept_up']}")
            raw["search"] = await bench.highest_held(raw["hold"], say)
            say(f"freshness at {t4 / 2:.0f} votes/s (T5)")
            raw["fresh"] = await bench.open_loop(
                bench.ours, bodies.batch, t4 / 2 / BATCH_SIZE, "fresh", FRESHNESS_BREAKDOWN
            )
            half = median(r["throughput"] for r in raw["single"]) / 2
            say(f"single votes open loop at {half:.0f} req/s, ours and trivial (T6)")
            raw["single_open"] = await bench.open_loop(
                bench.ours, bodies.single, half, "single-open", VOTE_BREAKDOWN
            )
            raw["trivial_open"] = await bench.open_loop(bench.trivial, bodies.single, half, "trivial-open")
            say(f"overload: {2 * t4:.0f} votes/s for {plan.hold_seconds:g} s")
            raw["overload"] = await overload(
                probe, services["front"], bodies, 2 * t4, plan.hold_seconds, plan.overload_connections
            )
    finally:
        ceiling.stop()
        await probe.close()
    return raw


def service_pid(service: Service) -> int:
    assert service.process is not None
    return service.process.pid


# ---------------------------------------------------------------- the table and the manifest


def paired(raw: dict[str, Any], measure: Callable[..., float]) -> float:
    """Median over the pairs of measure(trivial, single, batch, floors)."""
    runs = zip(raw["trivial"], raw["single"], raw["batch"], raw["floors"], strict=True)
    return median(measure(*run) for run in runs)


def cpu_sum(run: dict[str, Any], names: tuple[str, ...]) -> float:
    return float(sum(run["cpu_us"][name] for name in names))


def consumer_floor(floors: dict[str, Any]) -> float:
    return float(sum(floors["cpu_us"][step] for step in ("getmany", "count", "insert_many")))


def busiest(cores: dict[str, float]) -> str:
    """The cores each of our processes kept busy, the busiest first."""
    ranked = sorted(((value, name) for name, value in cores.items() if value >= 0.005), reverse=True)
    named = ", ".join(f"{name} {value:.2f}" for value, name in ranked)
    return f"{sum(cores.values()):.2f} of {os.cpu_count()} cores busy with ours ({named})"


def rows(raw: dict[str, Any]) -> list[Row]:
    single, trivial, batch, floors = raw["single"], raw["trivial"], raw["batch"], raw["floors"]
    hold, search, fresh, over = raw["hold"], raw["search"], raw["fresh"], raw["overload"]
    batch_cpu = {name: median(r["cpu_us"][name] for r in batch) for name in batch[0]["cpu_us"]}
    floor = {step: median(f["cpu_us"][step] for f in floors) for step in floors[0]["cpu_us"]}
    servers = {
        name: median(f["servers_cpu_us"][name] for f in floors) for name in floors[0]["servers_cpu_us"]
    }
    single_rate = median(r["throughput"] for r in single)
    cores = os.cpu_count() or 1
    trivial_rate = median(r["throughput"] for r in trivial)
    ingest_cpu = median(cpu_sum(r, INGEST) for r in single)
    trivial_cpu = median(r["cpu_us"][TRIVIAL] for r in trivial)
    if hold["kept_up"]:
        t4_detail = f"lag flat, all counted {hold['drain_seconds']:.1f} s after the end"
    else:
        t4_detail = (
            f"offered {hold['rate'] * BATCH_SIZE:,.0f}/s, counted {hold['counted_rate']:,.0f}/s, "
            f"{hold['drain_seconds']:.1f} s to drain"
        )
    t1 = paired(raw, lambda t, s, b, f: ratio(s["throughput"], t["throughput"]))
    t2 = paired(raw, lambda t, s, b, f: ratio(cpu_sum(s, INGEST), t["cpu_us"][TRIVIAL]))
    t3a = paired(raw, lambda t, s, b, f: ratio(b["cpu_us"]["grpc-server"], f["cpu_us"]["produce"]))
    t3b = paired(raw, lambda t, s, b, f: ratio(b["cpu_us"]["consumer"], consumer_floor(f)))
    offered, accepted = over["offered_votes_per_s"], over["accepted_votes_per_s"]
    table = [
        Row(
            "T1 single-vote req/s ÷ trivial Quart req/s",
            t1,
            "",
            0.7,
            detail=f"wrk -c{single[0]['connections']}: {single_rate:,.0f} vs {trivial_rate:,.0f} req/s",
        ),
        Row(
            "T2 single-vote CPU (front + grpc-server) ÷ trivial's per request",
            t2,
            "",
            1.2,
            False,
            f"{ingest_cpu:.0f} vs {trivial_cpu:.0f} µs",
        ),
        Row(
            "T3 batched CPU per vote, front + grpc-server + consumer",
            median(cpu_sum(r, COUNTING) for r in batch),
            "µs",
            60,
            False,
            ", ".join(f"{name} {batch_cpu[name]:.1f}" for name in COUNTING),
        ),
        Row(
            "T3a grpc-server CPU per vote ÷ bare producer per record",
            t3a,
            "",
            1.5,
            False,
            f"producer floor {floor['produce']:.1f} µs",
        ),
        Row(
            "T3b consumer CPU per vote ÷ (getmany + count + insert_many)",
            t3b,
            "",
            1.5,
            False,
            f"floors {floor['getmany']:.1f} + {floor['count']:.1f} + {floor['insert_many']:.1f} µs",
        ),
        Row(
            "T4 batched ingest held, consumer keeping up",
            hold["value"],
            "votes/s",
            12_000,
            detail=f"{t4_detail}; {busiest(hold['cores'])}",
        ),
        Row(
            "T4 highest rate held, by search",
            search["held"],
            "votes/s",
            12_000,
            detail=f"{len(search['probes'])} probes of {search['probes'][0]['seconds']:g} s: "
            + ", ".join(
                f"{p['rate'] * BATCH_SIZE:,.0f} {'held' if p['kept_up'] else 'not'}" for p in search["probes"]
            ),
        ),
        Row(
            "T4 bound: all cores ÷ CPU per vote of every process (batched)",
            cores * 1e6 / sum(batch_cpu.values()),
            "votes/s",
            detail=f"{sum(batch_cpu.values()):.0f} µs per vote in all",
        ),
        Row(
            "T4 bound at the floors: all cores ÷ (floors + their servers' CPU)",
            cores * 1e6 / (sum(floor.values()) + sum(servers.values())),
            "votes/s",
            detail=f"{sum(floor.values()) + sum(servers.values()):.0f} µs per vote",
        ),
        Row(
            "T5 freshness p99 (202 → counted) at 50% of T4",
            fresh["freshness_p99"] * 1e3,
            "ms",
            100,
            False,
            f"{fresh['rate'] * BATCH_SIZE:,} votes/s, consumer histogram",
        ),
        Row(
            "T6 single-vote HTTP p99 at 50% of its maximum, open loop",
            raw["single_open"]["latency"]["p99"] * 1e3,
            "ms",
            25,
            False,
            f"{raw['single_open']['rate']} req/s; trivial app: "
            f"{raw['trivial_open']['latency']['p99'] * 1e3:.1f} ms",
        ),
        Row(
            "overload: requests refused at once (429 or 503 + Retry-After)",
            over["refused_requests"],
            "requests",
            1,
            detail=f"offered {offered:,.0f}/s, accepted {accepted:,.0f}/s",
        ),
        Row(
            "overload: front RSS growth",
            over["rss_growth_mib"],
            "MiB",
            50,
            False,
            f"from {over['rss_before_mib']:.0f} MiB",
        ),
        Row(
            "overload: accepted p99",
            over["accepted_p99_ms"],
            "ms",
            250,
            False,
            f"collections during the load: {collector_time(over['gc_pauses'])}",
        ),
        Row(
            "overload: /readyz failures",
            over["readyz_failures"],
            "",
            0,
            False,
            f"of {over['readyz_checks']} checks",
        ),
        Row(
            "overload: counted in Redis = answered 202",
            float(over["tallies_exact"]),
            "",
            1,
            detail=f"{over['votes_counted']:,.0f} counted, {over['votes_answered_202']:,.0f} answered 202",
        ),
    ]
    table += [
        Row(f"batched CPU per vote: {name}", cpu, "µs") for name, cpu in batch_cpu.items() if name != TRIVIAL
    ]
    table += [Row(f"floor CPU per record: {step} (client)", cpu, "µs") for step, cpu in floor.items()]
    table += [
        Row(f"floors' server CPU per record: {name}", servers[name], "µs")
        for name in STACK_PROCESSES.values()
        if name in servers
    ]
    return table


def collector_time(pauses: dict[str, dict[str, float]]) -> str:
    """Each process' collections over a load ("<service> gc_gen<N>": count and seconds), summed over
    the generations: how long its collector held it, and how often."""
    held: dict[str, tuple[float, float]] = {}
    for name, seen in pauses.items():
        service = name.split()[0]
        count, seconds = held.get(service, (0.0, 0.0))
        held[service] = (count + seen["count"], seconds + seen["seconds"])
    return ", ".join(
        f"{service} {count:,.0f} in {seconds * 1e3:,.0f} ms" for service, (count, seconds) in held.items()
    )


def breakdowns(raw: dict[str, Any]) -> list[tuple[str, list[StageRow]]]:
    """The stage breakdowns of T6 and T5, each with its title."""
    single, fresh = raw["single_open"], raw["fresh"]
    return [
        (
            f"Where a single vote's time goes (T6, {single['rate']} req/s; share of the front's request)",
            [StageRow(**row) for row in single["stages"]],
        ),
        (
            f"Where freshness goes (T5, {fresh['rate'] * BATCH_SIZE:,} votes/s; share of freshness)",
            [StageRow(**row) for row in fresh["stages"]],
        ),
    ]


def git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - a fixed git command
        ["git", *args],  # noqa: S607 - git from PATH, as make does
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def tool_versions() -> dict[str, str]:
    """wrk's own banner; vegeta, built without version stamps, by the pinned directory it lives in."""
    banner = subprocess.run(  # noqa: S603 - the bench's own tool
        [tool("wrk"), "--version"], capture_output=True, text=True, check=False
    )
    wrk_version = (banner.stdout or banner.stderr).split()[1]
    return {"wrk": wrk_version, "vegeta": Path(tool("vegeta")).resolve().parent.name.removeprefix("vegeta-")}


def manifest(settings: Settings, plan: Plan, started: float, tools: dict[str, str]) -> dict[str, Any]:
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
        "versions": {name: version(name) for name in packages} | tools,
        "kafka_broker": jars[0].name.removesuffix(".jar") if jars else "unknown",
        "machine": {
            "nproc": os.cpu_count(),
            "mem_bytes": psutil.virtual_memory().total,
            "platform": platform.platform(),
            "loadavg_end": os.getloadavg(),
        },
        "plan": asdict(plan),
        "settings": settings.model_dump(mode="json", exclude={"redis_password"}),
    }


def write_results(out: Path, table: list[Row], raw: dict[str, Any], meta: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    document = {"manifest": meta, "rows": [asdict(r) | {"verdict": r.verdict} for r in table], "runs": raw}
    (out / "latest.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    machine, plan = meta["machine"], meta["plan"]
    loads = ", ".join(f"{r['loadavg']:.1f}" for r in raw["batch"])
    text = [
        "# Benchmark: latest run",
        "",
        f"`{meta['command']}` at {meta['started_utc']} on {meta['git_sha'][:10]}"
        f"{' (dirty)' if meta['git_dirty'] else ''}, {meta['seconds']} s.",
        "",
        markdown_table(table),
        "",
        f"Machine: {machine['nproc']} cores, {machine['mem_bytes'] / 2**30:.1f} GiB, everything on loopback "
        f"(services, stack and load generators); load average (1 min) after each batched run {loads}, "
        f"after T4 {raw['hold']['loadavg']:.1f}, at the end {machine['loadavg_end'][0]:.1f}. "
        f"Python {meta['python']}; {versions}; Kafka {meta['kafka_broker']}.",
        "",
        f"T1-T3b: median of {plan['pairs']} paired runs of {plan['seconds']:g} s each (wrk, closed loop; "
        f"CPU from /proc until the consumer counted everything; floors from bench/floors.py, "
        f"{plan['floor_records']:,} records, client CPU from getrusage). T4 and the overload: "
        f"{plan['hold_seconds']:g} s, vegeta, open loop; T5, T6: {plan['open_seconds']:g} s. "
        "Raw runs and settings: latest.json.",
        "",
    ]
    for title, stages in breakdowns(raw):
        text += [f"## {title}", "", stage_markdown_table(stages), ""]
    (out / "latest.md").write_text("\n".join(text))


async def amain(plan: Plan, out: Path) -> int:
    started = time.time()

    def say(message: str) -> None:
        print(f"[{time.time() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    settings = bench_settings()
    redis = Redis.from_url(settings.redis_url)
    await redis.flushdb()  # RedisDatabase.BENCH_PIPELINE is the bench's own
    await redis.aclose()
    await create_topics(settings)
    say(f"topic {settings.votes_topic}, redis db 14, mongo {settings.mongo_database}")
    try:
        raw = await measure(plan, settings, say)
    finally:
        await drop_databases(settings)
    table = rows(raw)
    write_results(out, table, raw, manifest(settings, plan, started, tool_versions()))
    print(text_table(table))
    for title, stages in breakdowns(raw):
        print(f"\n{title}\n{stage_text_table(stages)}")
    say(f"wrote {out / 'latest.json'} and {out / 'latest.md'}")
    return 0


async def drop_databases(settings: Settings) -> None:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri)
    with contextlib.suppress(Exception):
        await mongo.drop_database(settings.mongo_database)
    await mongo.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--pairs", type=int, default=Plan.pairs)
    parser.add_argument("--seconds", type=float, default=Plan.seconds, help="each paired run")
    parser.add_argument("--hold", type=float, default=Plan.hold_seconds, help="T4 and the overload")
    parser.add_argument("--connections", type=int, default=Plan.connections)
    parser.add_argument("--quick", action="store_true", help="one short run of each (a smoke test)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench")
    args = parser.parse_args(argv)
    plan = Plan(pairs=args.pairs, seconds=args.seconds, hold_seconds=args.hold, connections=args.connections)
    if args.quick:
        plan = Plan(
            pairs=1, seconds=3, floor_records=10_000, hold_seconds=10, search_probes=1, probe_seconds=10,
            open_seconds=4,
        )  # fmt: skip
    try:  # before anything starts: a missing load generator is named, not met mid-run as a traceback
        for name in LOAD_TOOLS:
            tool(name)
    except ToolMissingError as missing:
        sys.exit(f"python -m bench: {missing}")
    sys.exit(uvloop.run(amain(plan, args.out)))

"""The load generators, both compiled and installed by `scripts/install-tools.sh --bench`:
wrk (C, closed loop: each connection sends its next request when the last one is answered, to find
a ceiling) and vegeta (Go, open loop: requests leave at a constant rate whatever the server does,
so a stall shows in the latency instead of slowing the load)."""

from __future__ import annotations

import asyncio
import csv
import io
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.harness import ROOT
from bench.stats import vegeta_summary, wrk_summary
from votemon.dev.processes import TEST_BAND_PREFIX

WRK_SCRIPT = Path(__file__).with_name("wrk.lua")
BATCH_SIZE = 100


LOAD_TOOLS = ("wrk", "vegeta")


class ToolMissingError(RuntimeError):
    """A load generator that is neither in .local/bin nor on the PATH."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} is not installed: run `make bench`, or scripts/install-tools.sh --bench once"
        )


def tool(name: str) -> str:
    """The project's copy (.local/bin), else the one on PATH."""
    local = ROOT / ".local" / "bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise ToolMissingError(name)
    return found


def vote(i: int) -> dict[str, Any]:
    return {
        "name": f"{TEST_BAND_PREFIX}Band {i % 64}",
        "album": f"Album {i % 7}",
        "year": 1990 + i % 30,
        "rank": 9.5,
    }


@dataclass(frozen=True)
class Bodies:
    """Request bodies, one file each: single votes spread over 64 bands (and so over the partitions),
    and batches of BATCH_SIZE votes."""

    single: list[Path]
    batch: list[Path]

    @classmethod
    def write(cls, directory: Path) -> Bodies:
        directory.mkdir(parents=True, exist_ok=True)
        single, batch = [], []
        for i in range(64):
            single.append(directory / f"single-{i}.json")
            single[-1].write_bytes(orjson.dumps(vote(i)))
        for b in range(8):
            batch.append(directory / f"batch-{b}.json")
            batch[-1].write_bytes(orjson.dumps([vote(b * BATCH_SIZE + i) for i in range(BATCH_SIZE)]))
        return cls(single, batch)


def write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


async def output(*argv: str, limit: float) -> str:
    """Run a tool and return what it printed; an error names the command and its stderr."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {process.returncode}: {err.decode()[-2000:]}")
    return out.decode()


async def wrk(url: str, bodies: list[Path], connections: int, seconds: float) -> dict[str, Any]:
    """Closed loop, one thread, `connections` keep-alive connections."""
    argv = [tool("wrk"), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    argv += ["-s", str(WRK_SCRIPT), url, "--", *map(str, bodies)]
    text = await output(*argv, limit=seconds + 30)
    line = next(line for line in reversed(text.splitlines()) if line.startswith("{"))
    return wrk_summary(orjson.loads(line)) | {"connections": connections}


async def vegeta(
    url: str, bodies: list[Path], rate: float, seconds: float, max_connections: int, work: Path
) -> dict[str, Any]:
    """Open loop at `rate` requests/s; latency of the 2xx answers, every status counted."""
    targets, results = work / "targets.txt", work / "results.bin"
    write_file(
        targets, "".join(f"POST {url}\nContent-Type: application/json\n@{body}\n\n" for body in bodies)
    )
    per_second = max(1, round(rate))
    argv = [tool("vegeta"), "attack", f"-targets={targets}", f"-rate={per_second}/1s"]
    argv += [f"-duration={seconds:g}s", f"-max-connections={max_connections}", "-timeout=10s"]
    await output(*argv, f"-output={results}", limit=seconds + 30)
    encoded = await output(tool("vegeta"), "encode", "--to", "csv", str(results), limit=120)
    # columns: timestamp (ns), status code, latency (ns), bytes out, bytes in, error, body, ...
    rows = ((int(row[1]), int(row[2]) / 1e9) for row in csv.reader(io.StringIO(encoded)) if row)
    return vegeta_summary(rows, seconds) | {"rate": per_second, "max_connections": max_connections}

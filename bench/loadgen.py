"""The one load generator for ours and the baselines: HTTP/1.1 keep-alive over raw asyncio sockets.

    python -m bench.loadgen closed --url URL --body FILE --concurrency 32 --warmup 2 --duration 5
    python -m bench.loadgen open   --url URL --body FILE --rate 1500 --max-connections 64 ...

`closed`: `concurrency` connections each send the next request when the last one answered; it
finds the throughput ceiling. `open`: requests are due on a constant-rate schedule whatever the
server does, each taken by the first idle connection (new ones are opened up to the cap), and the
latency counts from the due time, so a stall is not hidden by the requests it kept from being sent.
The body file holds one request body per line; they are sent in turn. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import uvloop

from bench.stats import open_loop_schedule, summarize


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time; bodies framed by Content-Length."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None:
            return
        head = bytes(self._buffer[:end]).lower()
        status = int(head[9:12])
        at = head.find(b"\r\ncontent-length:")
        length = 0
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[: end + 4 + length]
        waiter, self._waiter = self._waiter, None
        if not waiter.done():
            waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed"))

    async def request(self, payload: bytes) -> int:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(payload)
        return await self._waiter


@dataclass
class Target:
    host: str
    port: int
    payloads: list[bytes]
    timeout: float = 10.0
    _next: int = 0

    @classmethod
    def from_args(cls, url: str, bodies: list[bytes], timeout: float) -> Target:
        parts = urlsplit(url)
        assert parts.hostname and parts.port, "the URL needs a host and a port"
        path = parts.path or "/"
        host = f"{parts.hostname}:{parts.port}"
        payloads = [
            (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
            for body in bodies
        ]
        return cls(parts.hostname, parts.port, payloads, timeout)

    def payload(self) -> bytes:
        self._next = (self._next + 1) % len(self.payloads)
        return self.payloads[self._next]

    async def connect(self) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(HttpConnection, self.host, self.port)
        return protocol


@dataclass
class Tally:
    """What happened inside the measurement window [window_start, window_end)."""

    window_start: float
    window_end: float
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def record(self, at: float, latency: float, status: int | None) -> None:
        """Count a request that is due (open loop) or done (closed loop) `at`, if inside the window."""
        if not self.window_start <= at < self.window_end:
            return
        key = str(status) if status is not None else "error"
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if status is not None and 200 <= status < 300:
            self.ok += 1
            self.latencies.append(latency)
        else:
            self.errors += 1

    def result(self, **extra: object) -> dict[str, object]:
        window = self.window_end - self.window_start
        return {
            "window_seconds": window,
            "ok": self.ok,
            "errors": self.errors,
            "statuses": self.statuses,
            "throughput": self.ok / window if window > 0 else 0.0,
            "latency": summarize(self.latencies),
            **extra,
        }


async def closed_loop(target: Target, concurrency: int, warmup: float, duration: float) -> dict[str, object]:
    connections = [await target.connect() for _ in range(concurrency)]
    start = time.perf_counter()
    tally = Tally(start + warmup, start + warmup + duration)

    async def worker(connection: HttpConnection) -> None:
        while True:
            sent = time.perf_counter()
            if sent >= tally.window_end:
                return
            try:
                status: int | None = await asyncio.wait_for(
                    connection.request(target.payload()), target.timeout
                )
            except (OSError, TimeoutError, ValueError):
                status = None
            done = time.perf_counter()
            # a closed loop counts completions in the window (its throughput), by completion time
            tally.record(done, done - sent, status)
            if status is None:
                connection = await target.connect()

    await asyncio.gather(*(worker(c) for c in connections))
    return tally.result(mode="closed", concurrency=concurrency)


async def open_loop(
    target: Target, rate: float, warmup: float, duration: float, max_connections: int
) -> dict[str, object]:
    idle: asyncio.Queue[HttpConnection] = asyncio.Queue()
    opened = 0
    for _ in range(min(8, max_connections)):
        idle.put_nowait(await target.connect())
        opened += 1
    start = time.perf_counter() + 0.05
    schedule = open_loop_schedule(rate, warmup + duration, start)
    tally = Tally(start + warmup, start + warmup + duration)
    tasks: set[asyncio.Task[None]] = set()
    max_late = 0.0
    peak_in_flight = 0

    async def one(due: float) -> None:
        nonlocal opened
        if idle.empty() and opened < max_connections:
            opened += 1
            connection = await target.connect()
        else:
            connection = await idle.get()
        try:
            status: int | None = await asyncio.wait_for(connection.request(target.payload()), target.timeout)
        except (OSError, TimeoutError, ValueError):
            status = None
        tally.record(due, time.perf_counter() - due, status)
        if status is None or connection.closed:
            connection = await target.connect()
        idle.put_nowait(connection)

    for due in schedule:
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        else:
            max_late = max(max_late, now - due)
        task = asyncio.create_task(one(due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        peak_in_flight = max(peak_in_flight, len(tasks))
    if tasks:
        await asyncio.wait(tasks, timeout=target.timeout + 5)
    return tally.result(
        mode="open",
        rate=rate,
        connections=opened,
        peak_in_flight=peak_in_flight,
        max_dispatch_late=max_late,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("mode", choices=["closed", "open"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, type=Path, help="one request body per line")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--max-connections", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    bodies = [line for line in args.body.read_bytes().splitlines() if line.strip()]
    target = Target.from_args(args.url, bodies, args.timeout)
    if args.mode == "closed":
        result = uvloop.run(closed_loop(target, args.concurrency, args.warmup, args.duration))
    else:
        result = uvloop.run(open_loop(target, args.rate, args.warmup, args.duration, args.max_connections))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()

"""What every service shares at run time: JSON logs, the collector's pauses timed, SIGTERM handling,
and serving a Quart app."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable

import structlog
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from quart import Quart, Response

from votemon.settings import Settings
from votemon.stages import BUCKETS

ReadinessCheck = Callable[[], Awaitable[bool]]
STOPPING_KEY = "VOTEMON_STOPPING"  # app.config entry: the stop event serve_app serves until
GC_PAUSES_METRIC = "votemon_gc_pause_seconds"  # the bench reads it by name
GC_PAUSES = Histogram(
    GC_PAUSES_METRIC,
    "Collections of Python's cyclic garbage collector: the whole process, event loop included, waits",
    ["generation"],
    buckets=BUCKETS,
)


class GcPauseTimer:
    """A gc.callbacks entry: times each collection from its start to its stop, by generation."""

    def __init__(self) -> None:
        self._started = 0.0
        self._children = {generation: GC_PAUSES.labels(generation=str(generation)) for generation in range(3)}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._children[info["generation"]].observe(time.perf_counter() - self._started)


def watch_gc_pauses() -> None:
    """Time this process' collections, once however often called."""
    if not any(isinstance(callback, GcPauseTimer) for callback in gc.callbacks):
        gc.callbacks.append(GcPauseTimer())


def freeze_startup_objects() -> None:
    """Once a service is set up: move what start-up made (modules, clients, tables) out of the
    collector's reach, so that a full collection walks what serving allocates and no more (measured:
    51-112 ms per full collection before, 1-22 ms after; docs/performance.md)."""
    gc.collect()
    gc.freeze()


def configure_process(settings: Settings, service: str) -> structlog.stdlib.BoundLogger:
    """What each service does first: its collections timed, its logs configured."""
    watch_gc_pauses()
    return configure_logging(settings, service)


def configure_logging(settings: Settings, service: str) -> structlog.stdlib.BoundLogger:
    """One JSON object per line on stderr, so that log collectors need no parsing rules."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logger: structlog.stdlib.BoundLogger = structlog.get_logger().bind(service=service)
    return logger


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: services stop taking work, finish what they have, exit 0."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    return stopping


async def serve_app(
    app: Quart, bind: str, stopping: asyncio.Event, settings: Settings, drain_seconds: float = 0
) -> None:
    """Serve a Quart app with Hypercorn until `stopping` is set, letting in-flight requests finish.

    With `drain_seconds`, a set `stopping` first turns /readyz to 503 while the app keeps serving
    for that long, so that a load balancer takes the endpoint out before any connection closes."""
    config = HypercornConfig()
    config.bind = [bind]
    config.graceful_timeout = settings.shutdown_grace_seconds
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = settings.keep_alive_timeout_seconds
    app.config[STOPPING_KEY] = stopping

    async def drained() -> None:
        await stopping.wait()
        await asyncio.sleep(drain_seconds)

    await serve(app, config, shutdown_trigger=drained)


def metrics_response() -> Response:
    return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)


def add_probes(app: Quart, ready: ReadinessCheck, version: str) -> None:
    """/healthz (the process answers, and which build it is), /readyz (its dependencies answer)
    and /metrics."""

    @app.get("/healthz")
    async def healthz() -> tuple[dict[str, str], int]:
        return {"status": "ok", "version": version}, 200

    @app.get("/readyz")
    async def readyz() -> tuple[dict[str, str], int]:
        stopping = app.config.get(STOPPING_KEY)
        if stopping is not None and stopping.is_set():
            return {"status": "draining"}, 503
        if await ready():
            return {"status": "ready"}, 200
        return {"status": "not ready"}, 503

    @app.get("/metrics")
    async def metrics() -> Response:
        return metrics_response()


def ops_app(name: str, ready: ReadinessCheck, version: str) -> Quart:
    """The probe-and-metrics app of a service that has no HTTP API of its own."""
    app = Quart(name)
    add_probes(app, ready, version)
    return app

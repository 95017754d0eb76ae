"""What `make up` leaves running: a supervisor that owns the pipeline's processes and keeps them up.

It starts each service in the registry's order and waits until it is ready, then watches each from a
thread of its own that waits on the process (so an exit is seen at once and the child is reaped,
never left a zombie). A service that exits is started again with exponential backoff, as a kubelet
would; every exit and restart is logged as one JSON line and counted. The supervisor's record (PID,
start time, each service's PID and restart count) is what `up`, `down` and `status` read.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import structlog
import tenacity

from votemon.dev.processes import ROOT, Service
from votemon.settings import Settings

RUN = ROOT / ".local" / "run"
# First retry after 0.5 s, doubling up to 30 s; a service that stayed up that long starts over at 0.5 s.
BACKOFF = tenacity.wait_exponential(multiplier=0.5, max=30)
STABLE_SECONDS = 30.0


def record_path(settings: Settings) -> Path:
    """The record of the supervisor for this front address (pipelines on other ports are others)."""
    return RUN / f"pipeline-{settings.front_bind.replace(':', '-')}.json"


def read_record(settings: Settings) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads(record_path(settings).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return found


def same_process(entry: dict[str, Any] | None) -> psutil.Process | None:
    """The process `entry` ({pid, started}) names, if that very process still runs (not a reused PID)."""
    if not entry:
        return None
    with contextlib.suppress(psutil.NoSuchProcess):
        process = psutil.Process(entry["pid"])
        if process.create_time() == entry["started"] and process.status() != psutil.STATUS_ZOMBIE:
            return process
    return None


def identity(pid: int) -> dict[str, Any]:
    return {"pid": pid, "started": psutil.Process(pid).create_time()}


class Supervisor:
    """The pipeline's services, each restarted when it exits, until `stop()`."""

    def __init__(
        self, settings: Settings, start: Callable[[], dict[str, Service]], log: structlog.stdlib.BoundLogger
    ) -> None:
        self.settings = settings
        self._start = start  # the services, started and ready (start_services for the pipeline)
        self.services: dict[str, Service] = {}
        self.restarts: Counter[str] = Counter()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        # held while a service is restarted or stopped, so a stop never races a restart
        self._guards: dict[str, threading.Lock] = {}  # one per service, made by start()
        self.log = log
        self._watchers: list[threading.Thread] = []

    def start(self) -> None:
        """Every service, ready; then a watcher per service."""
        self.services = self._start()
        self._guards = {name: threading.Lock() for name in self.services}
        self.write_record()
        for service in self.services.values():
            watcher = threading.Thread(target=self.watch, args=(service,), name=service.name, daemon=True)
            watcher.start()
            self._watchers.append(watcher)

    def watch(self, service: Service) -> None:
        """Keep `service` running until stopping: each round of restarts backs off further, and a run
        that outlasted STABLE_SECONDS starts a new round (its restart is immediate)."""
        while not self.stopping.is_set():
            retrying = tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(ServiceDownError),
                wait=BACKOFF,
                stop=lambda _: self.stopping.is_set(),
                sleep=self.stopping.wait,  # type: ignore[arg-type]  # a stop ends the backoff at once
                reraise=True,
            )
            with contextlib.suppress(ServiceDownError):
                retrying(self.run_once, service)

    def run_once(self, service: Service) -> None:
        """Start `service` if its process ended, then wait for it to end (reaping it). Returns after a
        stable run or when stopping; raises ServiceDownError when it exited soon or could not start."""
        with self._guards[service.name]:
            if self.stopping.is_set():
                return
            process = service.process
            if process is None or process.poll() is not None:
                service.stop()  # clears the ended process from mirakuru's executor
                with self._lock:
                    self.restarts[service.name] += 1
                try:
                    service.restart()
                except RuntimeError as error:
                    service.stop()  # started but never ready: not left running unwatched
                    self.log.warning("restart failed", name=service.name, error=str(error))
                    raise ServiceDownError(service.name) from error
                self.write_record()
                self.log.warning("service restarted", name=service.name, restarts=self.restarts[service.name])
                process = service.process
                assert process is not None
        started = time.monotonic()
        code = process.wait()
        if self.stopping.is_set():
            return
        self.log.warning("service exited", name=service.name, exit=code, log=str(service.log_path))
        if time.monotonic() - started < STABLE_SECONDS:
            raise ServiceDownError(service.name)

    def write_record(self) -> None:
        """Record this supervisor and its services' processes, for `up`, `down` and `status`."""
        with self._lock:
            services = {}
            for name, service in self.services.items():
                with contextlib.suppress(psutil.NoSuchProcess):  # one that just ended is left out
                    if service.process is not None and service.process.poll() is None:
                        services[name] = {**identity(service.process.pid), "restarts": self.restarts[name]}
            record = {**identity(psutil.Process().pid), "services": services}
            path = record_path(self.settings)
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_suffix(".tmp")
            scratch.write_text(json.dumps(record))
            scratch.replace(path)

    def stop(self) -> dict[str, int]:
        """Stop every service in reverse order (SIGTERM, then SIGKILL after the timeout); their exit codes."""
        self.stopping.set()
        exits = {}
        for name in reversed(self.services):
            with self._guards[name]:
                exits[name] = self.services[name].stop()
            self.log.info("service stopped", name=name, exit=exits[name])
        for watcher in self._watchers:
            watcher.join(timeout=5)
        record_path(self.settings).unlink(missing_ok=True)
        return exits


class ServiceDownError(Exception):
    """A service exited or could not become ready: it is started again after the backoff."""

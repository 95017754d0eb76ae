"""`python -m votemon.dev up|down|status|stack-env`: the pipeline on this machine, behind `make up`.

The services' executors kill their processes when their owner exits, so `up` starts a supervisor
that owns them and lives as long as they do: it starts each service in the registry's order, waits
until it is ready, and on SIGTERM stops them in reverse (SIGTERM, SIGKILL after the timeout). The
supervisor's PID and start time are recorded (per front address: pipelines on other ports are
others), so a later `down` from any shell signals that very process, never one that reused its
PID. `stack-env` gives stack/stack.sh its ports, from the settings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from votemon.dev.processes import LOGS, ROOT, TIMEOUT, start_services
from votemon.settings import READY_PATH, SERVICE, SERVICES, Settings

RUN = ROOT / ".local" / "run"
SUPERVISOR_LOG = LOGS / "pipeline.log"
READY = "ready"


def supervisor_record(settings: Settings) -> Path:
    return RUN / f"pipeline-{settings.front_bind.replace(':', '-')}.json"


def running_supervisor(settings: Settings) -> psutil.Process | None:
    """The supervisor an earlier `up` recorded, if that same process still runs."""
    try:
        record = json.loads(supervisor_record(settings).read_text())
    except FileNotFoundError:
        return None
    with contextlib.suppress(psutil.NoSuchProcess):
        process = psutil.Process(record["pid"])
        if process.create_time() == record["started"]:
            return process
    return None


def supervise(settings: Settings) -> None:
    """Start every service, report READY on stdout, then hold them until SIGTERM or SIGINT."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    me, record = psutil.Process(), supervisor_record(settings)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"pid": me.pid, "started": me.create_time()}))
    try:
        print(f">> starting {', '.join(spec.name for spec in SERVICES)}", flush=True)
        services = start_services(settings, LOGS)
        front, results = (SERVICE[name].base_url(settings) for name in ("front", "results"))
        print(f">> pipeline ready: POST {front}/grpc, results {results}/api/totals", flush=True)
        print(READY, flush=True)
        stopping.wait()
        for service in reversed(services.values()):
            print(f"stopping {service.name}: exit {service.stop()}", file=sys.stderr, flush=True)
    finally:
        record.unlink(missing_ok=True)


def up(settings: Settings) -> None:
    if (supervisor := running_supervisor(settings)) is not None:
        print(f">> pipeline already running (supervisor pid {supervisor.pid})")
        return
    SUPERVISOR_LOG.parent.mkdir(parents=True, exist_ok=True)
    with SUPERVISOR_LOG.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "votemon.dev", "supervise"],
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,  # outlives this command and its terminal
            text=True,
        )
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == READY:
            return
        print(line, end="", flush=True)
    last = SUPERVISOR_LOG.read_text(errors="replace").splitlines()[-1:]
    sys.exit(f"the pipeline did not start: {' '.join(last)}\nsee {SUPERVISOR_LOG} and the logs in {LOGS}")


def down(settings: Settings) -> None:
    supervisor = running_supervisor(settings)
    if supervisor is None:
        print(">> pipeline not running")
        supervisor_record(settings).unlink(missing_ok=True)
        return
    print(f">> stopping the pipeline (supervisor pid {supervisor.pid})")
    supervisor.terminate()
    supervisor.wait(timeout=TIMEOUT * len(SERVICES))


def status(settings: Settings) -> None:
    supervisor = running_supervisor(settings)
    print(f"supervisor: {f'pid {supervisor.pid}' if supervisor else 'not running'}")
    for spec in SERVICES:
        url = f"{spec.base_url(settings)}{READY_PATH}"
        try:
            answer = str(httpx.get(url, timeout=2).status_code)
        except httpx.HTTPError as error:
            answer = type(error).__name__
        print(f"{spec.name}: {url} {answer}")


def stack_env(settings: Settings) -> None:
    """Shell assignments of the stack's address (Kafka's host) and ports, read from the settings'
    addresses of Kafka, Redis and MongoDB; FERRETDB=1 when MongoDB is expected on this machine."""
    kafka = urlsplit(f"//{settings.kafka_bootstrap_servers.split(',')[0]}")
    mongo = urlsplit(settings.mongo_uri)
    local_mongo = mongo.hostname in {"127.0.0.1", "localhost"}
    values = {
        "STACK_HOST": kafka.hostname,
        "KAFKA_PORT": kafka.port,
        "REDIS_PORT": urlsplit(settings.redis_url).port,
        "MONGO_PORT": mongo.port,
        "FERRETDB": int(local_mongo),
    }
    if None in values.values():
        sys.exit(f"stack-env: each of Kafka, Redis and MongoDB needs an explicit port: {values}")
    print(" ".join(f"{name}={shlex.quote(str(value))}" for name, value in values.items()))


def main(argv: list[str] | None = None) -> None:
    commands = {"up": up, "down": down, "status": status, "stack-env": stack_env, "supervise": supervise}
    parser = argparse.ArgumentParser(prog="python -m votemon.dev", description=__doc__)
    parser.add_argument("command", choices=list(commands))
    commands[parser.parse_args(argv).command](Settings())


if __name__ == "__main__":
    main()

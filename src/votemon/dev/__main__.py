"""`python -m votemon.dev up|down|status|check|reset|ports|stack-env`: the pipeline on this machine.

The services' executors kill their processes when their owner exits, so `up` starts a supervisor
(votemon.dev.supervisor) that owns them, restarts any that exits, and lives as long as they do. A
later `up` repairs rather than refuses: with the supervisor alive it waits until its restarts made
every service ready (and starts the pipeline anew if they do not); with the supervisor gone it stops
the services it left and starts a new one. `down` signals that very supervisor (never a process that
reused its PID). `check` names what is down; `stack-env` gives stack/stack.sh its ports.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import subprocess
import sys
import threading
from urllib.parse import urlsplit

import psutil

from votemon.dev.eventually import eventually
from votemon.dev.health import naming_what_is_down, service_answers, stack_addresses, what_is_down
from votemon.dev.processes import LOGS, TIMEOUT, local_settings, stack_redis_users, start_services
from votemon.dev.reset import reset
from votemon.dev.supervisor import Supervisor, read_record, record_path, same_process
from votemon.runtime import configure_logging
from votemon.settings import SERVICE, SERVICES, Settings

SUPERVISOR_LOG = LOGS / "pipeline.log"
READY = "ready"


def running_supervisor(settings: Settings) -> psutil.Process | None:
    """The supervisor an earlier `up` recorded, if that same process still runs."""
    return same_process(read_record(settings))


def supervise(settings: Settings) -> None:
    """Start every service, report READY on stdout, then keep them running until SIGTERM or SIGINT."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    log = configure_logging(settings, "supervisor")
    supervisor = Supervisor(settings, lambda: start_services(settings, LOGS), log)
    print(f">> starting {', '.join(spec.name for spec in SERVICES)}", flush=True)
    try:
        supervisor.start()
    except RuntimeError:
        record_path(settings).unlink(missing_ok=True)
        raise
    print_addresses(settings)
    print(READY, flush=True)
    stopping.wait()
    supervisor.stop()


def print_addresses(settings: Settings) -> None:
    front, results = (SERVICE[name].base_url(settings) for name in ("front", "results"))
    print(f">> pipeline ready: POST {front}/grpc, results {results}/api/totals", flush=True)
    print(f">> logs: {LOGS}/<service>.log, supervisor {SUPERVISOR_LOG}", flush=True)


def all_ready(settings: Settings) -> bool:
    return set(service_answers(settings).values()) == {"200"}


def stop_left_behind(settings: Settings) -> None:
    """Stop the services a supervisor that no longer runs recorded (it was killed): they hold the ports."""
    for name, entry in read_record(settings).get("services", {}).items():
        if (process := same_process(entry)) is not None:
            print(f">> stopping {name} (pid {process.pid}), left by a supervisor that no longer runs")
            process.terminate()
            try:
                process.wait(timeout=TIMEOUT)
            except psutil.TimeoutExpired:
                process.kill()
    record_path(settings).unlink(missing_ok=True)


def up(settings: Settings) -> None:
    if (supervisor := running_supervisor(settings)) is not None:
        with contextlib.suppress(AssertionError):
            eventually(lambda: all_ready(settings), "every service ready", within=TIMEOUT, interval=0.5)
        if all_ready(settings):
            print(f">> pipeline running (supervisor pid {supervisor.pid}); {restarts_line(settings)}")
            print_addresses(settings)
            return
        still_down = ", ".join(what_is_down(settings))
        print(f">> still down after {TIMEOUT:.0f} s: {still_down}; starting the pipeline anew")
        down(settings)
    stop_left_behind(settings)
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
        stop_left_behind(settings)
        return
    print(f">> stopping the pipeline (supervisor pid {supervisor.pid})")
    supervisor.terminate()
    supervisor.wait(timeout=TIMEOUT * len(SERVICES))


def restarts_line(settings: Settings) -> str:
    services = read_record(settings).get("services", {})
    counts = ", ".join(f"{name} {entry['restarts']}" for name, entry in services.items())
    return f"restarts: {counts or 'none recorded'}"


def status(settings: Settings) -> None:
    """The supervisor, each service's /readyz answer and log, and the stack's ports."""
    supervisor = running_supervisor(settings)
    print(
        f"supervisor: {f'pid {supervisor.pid}, {restarts_line(settings)}' if supervisor else 'not running'}"
    )
    for spec, answer in zip(SERVICES, service_answers(settings).values(), strict=True):
        print(f"{spec.name}: {spec.base_url(settings)} {answer}  log {LOGS / spec.name}.log")


def check(settings: Settings) -> None:
    """Exit 1 naming each part that is down (the stack's and the pipeline's), else say all is up."""
    if down := what_is_down(settings):
        sys.exit(f"down: {', '.join(down)}. `make up` starts what is missing; logs in {LOGS}")
    print(">> the stack and every service answer")


def stack_env(settings: Settings) -> None:
    """Shell assignments of the stack's address (Kafka's host) and ports, read from the settings'
    addresses of Kafka, Redis and MongoDB; FERRETDB=1 when MongoDB is expected on this machine;
    STACK_REDIS_USERS, where the stack keeps its Redis users' passwords (the services read them there)."""
    kafka = urlsplit(f"//{settings.kafka_bootstrap_servers.split(',')[0]}")
    mongo = urlsplit(settings.mongo_uri)
    local_mongo = mongo.hostname in {"127.0.0.1", "localhost"}
    values = {
        "STACK_HOST": kafka.hostname,
        "KAFKA_PORT": kafka.port,
        "REDIS_PORT": urlsplit(settings.redis_url).port,
        "MONGO_PORT": mongo.port,
        "FERRETDB": int(local_mongo),
        "STACK_REDIS_USERS": stack_redis_users(),
    }
    if None in values.values():
        sys.exit(f"stack-env: each of Kafka, Redis and MongoDB needs an explicit port: {values}")
    print(" ".join(f"{name}={shlex.quote(str(value))}" for name, value in values.items()))


def reset_data(settings: Settings) -> None:
    """Stop the pipeline, then empty the stack's data (votemon.dev.reset); `make up` starts it again."""
    if running_supervisor(settings) is not None:
        down(settings)
    with naming_what_is_down(settings, "reset"):
        reset(settings)
    print(">> the local data is empty; `make up` starts the pipeline again")


def ports(settings: Settings) -> None:
    """`name port` of each address the stack and the pipeline listen on, from the settings
    (scripts/doctor.sh checks that each is free)."""
    addresses = {**stack_addresses(settings), "grpc": settings.grpc_bind}
    addresses |= {spec.name: getattr(settings, spec.probe_bind) for spec in SERVICES}
    for name, address in addresses.items():
        print(f"{name} {address.rpartition(':')[2]}")


def main(argv: list[str] | None = None) -> None:
    commands = {
        "up": up,
        "down": down,
        "status": status,
        "check": check,
        "stack-env": stack_env,
        "ports": ports,
        "reset": reset_data,
        "supervise": supervise,
    }
    parser = argparse.ArgumentParser(prog="python -m votemon.dev", description=__doc__)
    parser.add_argument("command", choices=list(commands))
    commands[parser.parse_args(argv).command](local_settings())


if __name__ == "__main__":
    main()

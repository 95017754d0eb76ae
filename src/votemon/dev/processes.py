"""The pipeline's services as local processes, each `votemon <name>` as its container runs it.

A process is a mirakuru executor: ready when its /readyz answers 200 (waiting fails at once when
the process exits), stopped with a signal and killed when it outlasts `TIMEOUT`. The executor holds
the process it started, so nothing trusts a pidfile whose PID may since name another program.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import mirakuru.base
import psutil
from mirakuru import HTTPExecutor, SimpleExecutor
from mirakuru.exceptions import ExecutorError, ProcessFinishedWithError

from votemon.catalogue import Catalogue
from votemon.settings import READY_PATH, SERVICE, SERVICES, Settings

ROOT = Path(__file__).resolve().parents[3]
LOGS = ROOT / ".local" / "log"
CATALOGUE = ROOT / "base" / "pipeline-config" / "catalogue.json"
# Every band the tests and the bench vote for starts with this (votemon.dev.pipeline.unique_band):
# their catalogue admits such bands with any album, beside the real catalogue's.
TEST_BAND_PREFIX = "test: "
VOTEMON = Path(sys.executable).with_name("votemon")
TIMEOUT = 60.0  # to become ready, and to exit after the stop signal


def kill_own_leftovers() -> None:
    """At exit, SIGKILL what this process's executors started and left running, and nothing else.

    In place of mirakuru's own atexit handler (3.1.0, base.cleanup_subprocesses), which kills every
    process whose executor id ("<pid>:<uuid>", in its environment as mirakuru_uuid) merely *contains*
    the exiting PID: any short-lived `python -m votemon.dev ...` whose PID appeared in those digits
    SIGKILLed the services of another process (a CI run's shared pipeline lost its front that way)."""
    own = f"{os.getpid()}:"
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get(mirakuru.base.ENV_UUID, "").startswith(own):
                process.kill()


atexit.unregister(mirakuru.base.cleanup_subprocesses)
atexit.register(kill_own_leftovers)


def stack_state(stack_dir: Path | None = None) -> Path:
    """Where a stack of stack/stack.sh keeps its state: `stack_dir`, else its STACK_DIR (default .local)."""
    return stack_dir or Path(os.environ.get("STACK_DIR", ROOT / ".local"))


def stack_redis_users(stack_dir: Path | None = None) -> Path:
    """Where stack/stack.sh keeps the passwords of the Redis users it creates (base/redis/users.acl)."""
    return stack_state(stack_dir) / "redis" / "users"


def stack_logins(stack_dir: Path | None = None) -> dict[str, Path]:
    """The settings that log in to a stack of stack/stack.sh: its Redis users' and Kafka users'
    password files (base/redis/users.acl, base/kafka/users.yaml) and the CA of its Kafka's TLS."""
    kafka = stack_state(stack_dir) / "kafka"
    return {
        "redis_users_dir": stack_redis_users(stack_dir),
        "kafka_users_dir": kafka / "users",
        "kafka_ca_file": kafka / "tls" / "ca.crt",
    }


def local_settings() -> Settings:
    """The settings of the environment, the services logging in to the local stack's Redis and Kafka
    as their own users, unless the environment names other credentials."""
    settings = Settings()
    unset = {name: path for name, path in stack_logins().items() if getattr(settings, name) is None}
    return settings.model_copy(update=unset)


EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range: a port the kernel hands out (bind to 0)
    is also what outgoing connections take their local port from, and with the local cluster's many
    connections one was taken between this check and the service's bind."""
    first_ephemeral = int(EPHEMERAL_PORTS.read_text().split()[0]) if EPHEMERAL_PORTS.exists() else 32768
    for _ in range(200):
        port = random.randint(20000, first_ephemeral - 1)  # noqa: S311 - a port, not a secret
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def write_test_catalogue() -> Path:
    """The catalogue of the tests and the bench: the real one, and any band named with
    TEST_BAND_PREFIX. Written whole and renamed into place, so concurrent runs never read half."""
    catalogue = Catalogue.load(CATALOGUE).model_copy(update={"test_band_prefix": TEST_BAND_PREFIX})
    target = ROOT / ".local" / "run" / "test-catalogue.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    partial.write_text(catalogue.model_dump_json(indent=2))
    partial.replace(target)
    return target


def isolated_settings(**overrides: object) -> Settings:
    """Settings of a run of its own beside anything else on the stack: unique topics, consumer group
    and MongoDB database, every service on a free port, the test catalogue and an integrator token
    of its own (made up per run, never written anywhere but the services' environment)."""
    run = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "catalogue_file": write_test_catalogue(),
        "integrator_tokens": secrets.token_urlsafe(32),
        "votes_topic": f"votes-submitted-test-{run}",
        "dead_letter_topic": f"votes-dead-letter-test-{run}",
        "consumer_group": f"vote-counter-test-{run}",
        "mongo_database": f"votes_test_{run}",
        **stack_logins(),
        **{spec.probe_bind: f"127.0.0.1:{free_port()}" for spec in SERVICE.values()},
        "grpc_bind": f"127.0.0.1:{free_port()}",
        "grpc_deadline_seconds": 3.0,
        "produce_timeout_seconds": 2.0,
        "shutdown_grace_seconds": 5.0,
        "front_drain_seconds": 0.0,  # no load balancer to leave: a stopped front ends at once
    }
    values["grpc_target"] = values["grpc_bind"]
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def environment(settings: Settings) -> dict[str, str]:
    """This process's environment with `settings` in place of whatever settings it held."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in Settings.model_fields}
    for name, value in settings.model_dump(exclude_none=True).items():
        env[name.upper()] = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return env


LOG_ROTATE_BYTES = 10 * 1024 * 1024
LOG_GENERATIONS = 3


def rotated_log(path: Path) -> Path:
    """`path`, emptied once it passed LOG_ROTATE_BYTES: the older text moves to `path`.1 (and .1 to .2, up
    to LOG_GENERATIONS), so a service's log keeps one name across restarts and never grows unbounded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size > LOG_ROTATE_BYTES:
        for generation in range(LOG_GENERATIONS - 1, 0, -1):
            older = path.with_name(f"{path.name}.{generation}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{generation + 1}"))
        path.replace(path.with_name(f"{path.name}.1"))
    return path


class Service:
    """One process, ready when `GET ready_url` answers 200: `votemon <name>` of the registry with
    `settings` (or `command` in its place, e.g. a broken consumer the fault tests must catch), or any
    other `command` given with its `ready_url` (the bench's ceiling app). Its output goes to
    `logs`/`log_name`.log (default: the name), one file across restarts, rotated by size."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        logs: Path = LOGS / "tests",
        command: Sequence[str] = (),
        *,
        ready_url: str | None = None,
        log_name: str | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.command = list(command) or [str(VOTEMON), name]
        self.ready_url = ready_url or f"{SERVICE[name].base_url(settings)}{READY_PATH}"
        self.base_url = self.ready_url.removesuffix(urlsplit(self.ready_url).path)
        self.log_path = logs / f"{log_name or name}.log"
        self._executor: HTTPExecutor | None = None
        # mirakuru forgets a process once it stopped it; its exit code is read from here
        self._last: subprocess.Popen[bytes] | None = None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The process started last, running or not yet reaped, if any."""
        return None if self._executor is None else self._executor.process

    def start(self) -> Service:
        """Start the process without waiting for it (`wait_ready` does); refuse a taken port."""
        with rotated_log(self.log_path).open("ab") as log:
            self._executor = HTTPExecutor(
                self.command,
                url=self.ready_url,
                method="GET",
                status=200,
                timeout=TIMEOUT,
                envvars=environment(self.settings),
                cwd=str(ROOT),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            if self._executor.pre_start_check():
                raise RuntimeError(f"{self.name}: another program listens on {self.base_url}; choose another")
            SimpleExecutor.start(self._executor)  # Executor.start would also wait until ready
        self._last = self._executor.process
        return self

    def wait_ready(self) -> Service:
        assert self._executor is not None, f"{self.name} was never started"
        try:
            self._executor.wait_for(self._executor.check_subprocess)
        except ExecutorError as error:
            raise RuntimeError(f"{self.name} did not become ready: {error}; log: {self.log_path}") from error
        return self

    def restart(self) -> Service:
        return self.start().wait_ready()

    def log_tail(self, lines: int = 15) -> str:
        """The end of this service's log: what a failure message shows of why it ended."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as error:
            return f"(no log: {error})"

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send `sig` (SIGKILL after `TIMEOUT`) and return the exit code, also of a process that
        had already ended (which this reaps)."""
        assert self._executor is not None and self._last is not None, f"{self.name} was never started"
        if self._executor.process is not None:
            # raised for an exit code other than 0 or -sig: the caller judges it
            with contextlib.suppress(ProcessFinishedWithError):
                self._executor.stop(stop_signal=sig)
        return self._last.wait()

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)


def start_services(
    settings: Settings, logs: Path = LOGS / "tests", commands: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Service]:
    """Every service of the registry (those named in `commands` run that instead), all started at once,
    then each waited for until ready; when one fails, those started are stopped and the error raised."""
    commands = commands or {}
    services: dict[str, Service] = {}
    try:
        for spec in SERVICES:
            services[spec.name] = Service(spec.name, settings, logs, commands.get(spec.name, ())).start()
        for service in services.values():
            service.wait_ready()
    except RuntimeError:
        for service in reversed(services.values()):
            service.stop()
        raise
    return services

"""Runs the pipeline's services as real processes for the tests, on ports of their own.

Each test session gets its own topics, consumer group, Redis database and MongoDB database, so
the tests never touch a demo that runs beside them.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from votemon.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
VOTEMON = ROOT / ".venv" / "bin" / "votemon"
LOGS = ROOT / ".local" / "log" / "tests"


EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range: a port the kernel hands out (bind to 0)
    is also what outgoing connections take their local port from, and with the local cluster's many
    connections one was taken between this check and the service's bind."""
    first_ephemeral = int(EPHEMERAL_PORTS.read_text().split()[0]) if EPHEMERAL_PORTS.exists() else 32768
    for _ in range(200):
        port = random.randint(20000, first_ephemeral - 1)
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


def test_settings(**overrides: object) -> Settings:
    """Settings for one test session: unique names, free ports, the local stack's servers."""
    run = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "votes_topic": f"votes-submitted-test-{run}",
        "dead_letter_topic": f"votes-dead-letter-test-{run}",
        "consumer_group": f"vote-counter-test-{run}",
        "redis_url": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "mongo_database": f"votes_test_{run}",
        "front_bind": f"127.0.0.1:{free_port()}",
        "grpc_bind": f"127.0.0.1:{free_port()}",
        "grpc_metrics_bind": f"127.0.0.1:{free_port()}",
        "consumer_metrics_bind": f"127.0.0.1:{free_port()}",
        "results_bind": f"127.0.0.1:{free_port()}",
        "grpc_deadline_seconds": 3.0,
        "produce_timeout_seconds": 2.0,
        "shutdown_grace_seconds": 5.0,
    }
    values["grpc_target"] = values["grpc_bind"]
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in Settings.model_fields}
    for name, value in settings.model_dump(exclude_none=True).items():
        env[name.upper()] = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return env


# service -> the setting that holds the address of its /readyz
READY_BIND = {
    "front": "front_bind",
    "grpc-server": "grpc_metrics_bind",
    "consumer": "consumer_metrics_bind",
    "results": "results_bind",
}


@dataclass
class Service:
    """One `votemon <name>` process."""

    name: str
    settings: Settings
    process: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = ()  # what runs instead of `votemon <name>`, if anything
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"{self.name}-{uuid.uuid4().hex[:6]}.log"

    @property
    def base_url(self) -> str:
        return f"http://{getattr(self.settings, READY_BIND[self.name])}"

    def start(self) -> Service:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command or (str(VOTEMON), self.name),
            env=environment(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        return self

    def wait_ready(self, timeout: float = 60) -> Service:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; log: {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready in {timeout}s; log: {self.log_path}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` and wait for the exit; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)

    def restart(self) -> Service:
        return self.start().wait_ready()

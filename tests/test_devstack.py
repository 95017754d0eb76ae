"""`make up` and `make down` (python -m votemon.dev up|down): every service of the registry starts and
answers /readyz, a second `up` starts nothing, and `down` from another process stops each with
SIGTERM (exit 0), on ports of the test's own."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest

from tests import support
from votemon.dev import __main__ as dev
from votemon.dev.processes import ROOT, environment
from votemon.kafka import create_topics
from votemon.settings import READY_PATH, SERVICE, SERVICES, Settings

pytestmark = pytest.mark.stack


def dev_command(settings: Settings, command: str) -> str:
    """Run `python -m votemon.dev <command>` as its own process, as `make` does; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "votemon.dev", command],
        env=environment(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ready(settings: Settings) -> dict[str, int | None]:
    answers: dict[str, int | None] = {}
    for spec in SERVICES:
        try:
            answers[spec.name] = httpx.get(f"{spec.base_url(settings)}{READY_PATH}", timeout=5).status_code
        except httpx.TransportError:
            answers[spec.name] = None
    return answers


def test_up_then_down_from_another_process() -> None:
    settings = support.test_settings()
    asyncio.run(create_topics(settings))
    log_start = dev.SUPERVISOR_LOG.stat().st_size if dev.SUPERVISOR_LOG.exists() else 0
    try:
        assert "pipeline ready" in dev_command(settings, "up")
        assert ready(settings) == dict.fromkeys(SERVICE, 200)
        assert dev.running_supervisor(settings) is not None
        assert "already running" in dev_command(settings, "up")
        assert dev_command(settings, "status").count(" 200\n") == len(SERVICES)
    finally:
        assert "stopping the pipeline" in dev_command(settings, "down")
    assert ready(settings) == dict.fromkeys(SERVICE, None)
    assert dev.running_supervisor(settings) is None
    with dev.SUPERVISOR_LOG.open() as log:
        log.seek(log_start)
        stops = [line.strip() for line in log if line.startswith("stopping ")]
    assert stops == [f"stopping {spec.name}: exit 0" for spec in reversed(SERVICES)]
    assert "not running" in dev_command(settings, "down")

"""The development tooling's pure logic: the service registry, `eventually()`, the stack's ports read
from the settings, and the records of PIDs (the supervisor's, the stack's pidfiles) trusted only for
the process they name."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import psutil
import pytest

from votemon.__main__ import COMMANDS
from votemon.dev import __main__ as dev
from votemon.dev.eventually import eventually
from votemon.dev.processes import ROOT
from votemon.settings import SERVICES, Settings


def test_every_service_of_the_registry_is_a_command_with_a_probe_address() -> None:
    for spec in SERVICES:
        assert COMMANDS[spec.name] == spec.module
        assert spec.probe_bind in Settings.model_fields
    assert [spec.name for spec in SERVICES] == ["grpc-server", "consumer", "results", "front"]
    settings = Settings(front_bind="127.0.0.1:1234")
    assert SERVICES[-1].base_url(settings) == "http://127.0.0.1:1234"


def test_eventually_returns_the_first_true_value() -> None:
    calls = itertools.count()
    assert eventually(lambda: n if (n := next(calls)) >= 3 else 0, 5, "three calls", interval=0) == 3


def test_eventually_fails_naming_what_did_not_happen() -> None:
    with pytest.raises(AssertionError, match=r"the answer did not come within 0\.2 s"):
        eventually(lambda: None, 0.2, "the answer did not come", interval=0.05)


def test_eventually_waits_through_ignored_errors_only() -> None:
    with pytest.raises(AssertionError, match="within") as failure:
        eventually(lambda: 1 / 0, 0.2, "no division", interval=0.05, ignoring=(ZeroDivisionError,))
    assert isinstance(failure.value.__cause__, ZeroDivisionError)
    calls = itertools.count()
    with pytest.raises(ZeroDivisionError):
        eventually(lambda: next(calls) / 0, 5, "no division", interval=0)
    assert next(calls) == 1, "an error not ignored ends the wait at once"


def stack_env(capsys: pytest.CaptureFixture[str], **settings: str) -> dict[str, str]:
    dev.stack_env(Settings(**settings))  # type: ignore[arg-type]
    return dict(pair.split("=") for pair in capsys.readouterr().out.split())


def test_the_stack_takes_its_ports_from_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    local = {
        "kafka_bootstrap_servers": "127.0.0.1:41092",
        "redis_url": "redis://127.0.0.1:41379/15",
        "mongo_uri": "mongodb://localhost:41017/",
    }
    assert stack_env(capsys, **local) == {
        "STACK_HOST": "127.0.0.1",
        "KAFKA_PORT": "41092",
        "REDIS_PORT": "41379",
        "MONGO_PORT": "41017",
        "FERRETDB": "1",
    }
    remote = stack_env(capsys, **local | {"mongo_uri": "mongodb://mongo.example:27017/"})
    assert remote["FERRETDB"] == "0"
    beside_the_pods = stack_env(capsys, **local | {"kafka_bootstrap_servers": "10.244.0.1:9092"})
    assert beside_the_pods["STACK_HOST"] == "10.244.0.1"
    with pytest.raises(SystemExit, match="explicit port"):
        stack_env(capsys, **local | {"redis_url": "redis://127.0.0.1/0"})


def test_down_trusts_the_record_only_for_the_process_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dev, "RUN", tmp_path)
    settings = Settings()
    record = dev.supervisor_record(settings)
    assert dev.running_supervisor(settings) is None  # no record
    me = psutil.Process(os.getpid())
    record.write_text(json.dumps({"pid": me.pid, "started": me.create_time()}))
    assert dev.running_supervisor(settings) == me
    # the same PID, started at another time: another process now holds it
    record.write_text(json.dumps({"pid": me.pid, "started": me.create_time() - 60}))
    assert dev.running_supervisor(settings) is None
    dev.down(settings)  # says the pipeline is not running, signals nothing, forgets the record
    assert not record.exists()


def test_the_stack_pidfile_names_only_the_process_it_recorded(tmp_path: Path) -> None:
    """stack/lib.sh: a live PID recorded with another start time is some other program's now."""
    script = f"""
        root={ROOT}; STACK_DIR={tmp_path}; source "$root/stack/lib.sh"
        echo "$$ 1" >"$run/reused.pid"; running reused && echo reused
        echo "$$ $(started_at $$)" >"$run/ours.pid"; running ours && echo ours
    """
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["ours"]

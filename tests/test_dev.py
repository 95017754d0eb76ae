"""The development tooling's pure logic: the service registry, `eventually()`, the stack's ports read
from the settings, and the records of PIDs (the supervisor's, the stack's pidfiles) trusted only for
the process they name."""

from __future__ import annotations

import inspect
import itertools
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import structlog
from mirakuru import SimpleExecutor

from tests import faults
from votemon.__main__ import COMMANDS
from votemon.dev import __main__ as dev
from votemon.dev import browser, health, pipeline, processes, supervisor
from votemon.dev import eventually as eventually_module
from votemon.dev.eventually import eventually
from votemon.dev.processes import ROOT
from votemon.dev.redis_databases import RedisDatabase, redis_url
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
    assert eventually(lambda: n if (n := next(calls)) >= 3 else 0, "three calls", within=5, interval=0) == 3


def test_eventually_fails_naming_what_did_not_happen() -> None:
    with pytest.raises(AssertionError, match=r"the answer did not come within 0\.2 s"):
        eventually(lambda: None, "the answer did not come", within=0.2, interval=0.05)


def test_eventually_waits_through_ignored_errors_only() -> None:
    with pytest.raises(AssertionError, match=r"no division within 0\.2 s: division by zero") as failure:
        eventually(lambda: 1 / 0, "no division", within=0.2, interval=0.05, ignoring=(ZeroDivisionError,))
    assert isinstance(failure.value.__cause__, ZeroDivisionError)
    calls = itertools.count()
    with pytest.raises(ZeroDivisionError):
        eventually(lambda: next(calls) / 0, "no division", within=5, interval=0)
    assert next(calls) == 1, "an error not ignored ends the wait at once"


def stack_env(capsys: pytest.CaptureFixture[str], **settings: str) -> dict[str, str]:
    dev.stack_env(Settings(**settings))  # type: ignore[arg-type]
    return dict(pair.split("=") for pair in capsys.readouterr().out.split())


def test_the_stack_takes_its_ports_from_the_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STACK_DIR", raising=False)
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
        "STACK_REDIS_USERS": str(ROOT / ".local" / "redis" / "users"),
    }
    monkeypatch.setenv("STACK_DIR", "/srv/node-data")
    assert stack_env(capsys, **local)["STACK_REDIS_USERS"] == "/srv/node-data/redis/users"
    remote = stack_env(capsys, **local | {"mongo_uri": "mongodb://mongo.example:27017/"})
    assert remote["FERRETDB"] == "0"
    beside_the_pods = stack_env(capsys, **local | {"kafka_bootstrap_servers": "10.244.0.1:9092"})
    assert beside_the_pods["STACK_HOST"] == "10.244.0.1"
    with pytest.raises(SystemExit, match="explicit port"):
        stack_env(capsys, **local | {"redis_url": "redis://127.0.0.1/0"})


def test_down_trusts_the_record_only_for_the_process_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor, "RUN", tmp_path)
    settings = Settings()
    record = supervisor.record_path(settings)
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


def harness_functions() -> Iterator[tuple[str, Callable[..., object]]]:
    """Every function and method of the harness modules the tests and the bench wait through."""
    for module in (pipeline, processes, browser, faults, eventually_module):
        for name, member in vars(module).items():
            if getattr(member, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(member):
                yield f"{module.__name__}.{name}", member
            elif inspect.isclass(member):
                for method_name, method in vars(member).items():
                    if inspect.isfunction(method):
                        yield f"{module.__name__}.{name}.{method_name}", method


def test_every_wait_in_the_harness_takes_its_time_limit_by_keyword_only() -> None:
    """A count passed where a timeout was expected made two tests wait "sent seconds": an int is a
    valid float, so only keyword-only limits catch such a caller."""
    limits = {"timeout", "timeout_s", "within", "limit"}
    positional = [
        f"{where}({parameter.name})"
        for where, function in harness_functions()
        for parameter in inspect.signature(function).parameters.values()
        if parameter.name in limits and parameter.kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    assert positional == []
    assert "timeout" in inspect.signature(pipeline.Pipeline.wait_band_count).parameters


def test_each_redis_database_has_one_owner_and_the_tests_and_bench_name_none_by_number() -> None:
    assert len({redis_url(database) for database in RedisDatabase}) == len(RedisDatabase)
    assert Settings().redis_url.endswith(f"/{int(RedisDatabase.DEMO)}")
    numbered = re.compile(r"store_settings\(\d|copy_with\(path=|rsplit\(\"/\", 1\)\[0\] \+")
    sources = [*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py"), ROOT / "loadtest/demo.py"]
    found = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in sources
        if path.name != "test_dev.py"
        for line in path.read_text().splitlines()
        if numbered.search(line)
    ]
    assert found == []


def test_a_service_log_keeps_its_name_and_rotates_by_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "LOG_ROTATE_BYTES", 10)
    log = tmp_path / "front.log"
    assert processes.rotated_log(log) == log and not log.exists()
    for generation in range(processes.LOG_GENERATIONS + 2):
        log.write_text(f"run {generation}: more than ten bytes\n")
        assert processes.rotated_log(log) == log and not log.exists()
    kept = sorted(path.name for path in tmp_path.iterdir())
    assert kept == [f"front.log.{n}" for n in range(1, processes.LOG_GENERATIONS + 1)]
    assert (tmp_path / "front.log.1").read_text().startswith(f"run {processes.LOG_GENERATIONS + 1}:")


def test_a_command_that_cannot_reach_the_pipeline_names_what_is_down() -> None:
    """What `make demo` prints when a service is gone, instead of httpx.ConnectError's traceback."""
    closed = {
        "kafka_bootstrap_servers": f"127.0.0.1:{processes.free_port()}",
        "redis_url": f"redis://127.0.0.1:{processes.free_port()}/0",
        "mongo_uri": f"mongodb://127.0.0.1:{processes.free_port()}/",
    }
    settings = processes.isolated_settings(**closed)
    with pytest.raises(SystemExit) as exit_, health.naming_what_is_down(settings, "make demo"):
        httpx.get(f"http://{settings.front_bind}/grpc", timeout=1)
    message = str(exit_.value.code)
    assert message.startswith("make demo failed")
    for name, address in health.stack_addresses(settings).items():
        assert f"{name} ({address})" in message
    for spec in SERVICES:
        assert f"{spec.name} ({spec.base_url(settings)}: ConnectError)" in message


def test_the_supervisor_restarts_a_killed_process_reaps_it_and_counts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor on a small HTTP server in place of the pipeline (the stack tests kill each of the
    pipeline's services): SIGKILL, and it comes back on the same port, reaped, counted, logged."""
    monkeypatch.setattr(supervisor, "RUN", tmp_path)
    settings = Settings()
    port = processes.free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(tmp_path)]
    web = processes.Service("web", settings, tmp_path, command, ready_url=f"http://127.0.0.1:{port}/")
    with structlog.testing.capture_logs() as logged:
        watched = supervisor.Supervisor(settings, lambda: {"web": web.restart()}, structlog.get_logger())
        watched.start()
        try:
            for restarts in (1, 2):
                killed = supervisor.read_record(settings)["services"]["web"]["pid"]
                os.kill(killed, signal.SIGKILL)

                def back(old: int = killed, count: int = restarts) -> bool:
                    entry = supervisor.read_record(settings)["services"].get("web", {})
                    return bool(entry.get("pid", old) != old and entry["restarts"] == count)

                eventually(back, f"restart {restarts} recorded", within=30)
                assert httpx.get(web.base_url, timeout=5).status_code == 200
                assert not psutil.pid_exists(killed), "the killed process was not reaped"
        finally:
            exits = watched.stop()
    assert exits == {"web": -signal.SIGTERM}
    assert not supervisor.record_path(settings).exists()
    events = [(entry["event"], entry.get("exit")) for entry in logged]
    assert events.count(("service restarted", None)) == 2, events
    assert all(code == -signal.SIGKILL for event, code in events if event == "service exited"), events
    assert events[-1] == ("service stopped", exits["web"]), events
    assert web.log_path == tmp_path / "web.log"


def test_a_stack_process_started_under_a_lock_does_not_hold_it(tmp_path: Path) -> None:
    """stack/lib.sh `start`: daemons get only stdin, stdout and stderr, so `flock LOCK make stack`
    releases LOCK when make ends, not when Kafka does (a leftover stack held the team's lock)."""
    lock = tmp_path / "lock"
    started = f'root={ROOT}; STACK_DIR={tmp_path}; source "$root/stack/lib.sh"; start sleeper sleep 60'
    subprocess.run(["flock", lock, "bash", "-c", started], check=True, timeout=30)
    try:
        assert subprocess.run(["flock", "-n", lock, "true"], check=False).returncode == 0
    finally:
        stop = f'root={ROOT}; STACK_DIR={tmp_path}; source "$root/stack/lib.sh"; stop sleeper'
        subprocess.run(["bash", "-c", stop], check=True, capture_output=True, timeout=60)


def test_a_python_process_that_exits_kills_only_what_its_own_executors_started() -> None:
    """mirakuru's atexit handler killed every process whose executor id ("<pid>:<uuid>") contained
    the exiting PID's digits; votemon.dev.processes replaces it with one that matches the PID."""
    sleeper = SimpleExecutor(["sleep", "60"])
    sleeper.start()
    try:
        digits = int(str(os.getpid())[1:])  # inside this process's executor ids, and another PID
        pretend = f"import os; os.getpid = lambda: {digits}; import votemon.dev.processes"
        subprocess.run([sys.executable, "-c", pretend], check=True, timeout=60)
        assert sleeper.running(), "another process's exit killed this one's executor"
    finally:
        sleeper.stop()

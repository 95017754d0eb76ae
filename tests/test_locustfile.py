"""The demo's Locust load (loadtest/locustfile.py) with --votes-once: each vote sent once, then the run
ends by itself, long before its --run-time, with its HTML report and final totals written; and the
load test's budget (--max-failure-ratio, --max-p95-ms) as Locust's exit code."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from votemon.dev.processes import ROOT

LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
RUN_TIME_S = 300  # as in the demo: a safety limit, never reached
ENDS_WITHIN_S = 60  # 57 votes take about 3 s, Locust's start included


class Front(BaseHTTPRequestHandler):
    """Answers every POST /grpc 202 (or ``status``, after ``delay_s``), as the front does, and keeps
    the bodies."""

    bodies: list[bytes] = []  # noqa: RUF012 - one server per test, reset by the fixture
    status, delay_s = 202, 0.0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).bodies.append(body)
        time.sleep(self.delay_s)
        reply = json.dumps({"accepted": 1, "ids": [str(len(self.bodies))]}).encode()
        self.send_response(self.status if self.path == "/grpc" else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def front() -> Iterator[str]:
    Front.bodies, Front.status, Front.delay_s = [], 202, 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=5)


def votes_once(front: str, tmp_path: Path, names: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """A headless Locust run that sends one vote per name, then ends."""
    votes = [{"name": name, "album": "Album", "year": 1997, "rank": 9.5} for name in names]
    (tmp_path / "votes.json").write_text(json.dumps(votes))
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "-u", "8", "-r", "8", "--host", front, "--votes-once", "--votes-file", str(tmp_path / "votes.json"),
        "-t", f"{RUN_TIME_S}s", *args,
    ]  # fmt: skip
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=ENDS_WITHIN_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run went on past {ENDS_WITHIN_S} s: it did not end when the votes ran out")


def test_votes_once_ends_the_run_when_every_vote_is_answered(front: str, tmp_path: Path) -> None:
    names = [f"Band {i}" for i in range(57)]
    votes = [{"name": name, "album": "Album", "year": 1997, "rank": 9.5} for name in names]
    proc = votes_once(
        front,
        tmp_path,
        names,
        "--html",
        str(tmp_path / "run.html"),
        "--votes-report",
        str(tmp_path / "report.json"),
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(json.loads(body)["name"] for body in Front.bodies) == sorted(names)
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["sent"], report["failed"]) == (len(votes), 0)
    assert (tmp_path / "run.html").stat().st_size > 0
    assert "ERROR" not in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("votes", "status", "delay_s", "budget", "code"),
    [
        (16, 202, 0.0, ["--max-failure-ratio", "0.01", "--max-p95-ms", "5000"], 0),  # within both
        (16, 500, 0.0, ["--max-failure-ratio", "0.01"], 1),  # every request failed
        (16, 500, 0.0, ["--max-failure-ratio", "1"], 0),  # failures, but within the budget
        (16, 202, 0.1, ["--max-p95-ms", "20"], 1),  # too slow
        (0, 202, 0.0, ["--max-p95-ms", "5000"], 1),  # no request made
    ],
)
def test_the_budget_is_the_exit_code(
    front: str, tmp_path: Path, votes: int, status: int, delay_s: float, budget: list[str], code: int
) -> None:
    Front.status, Front.delay_s = status, delay_s
    report = tmp_path / "report.json"
    proc = votes_once(
        front, tmp_path, [f"Band {i}" for i in range(votes)], *budget, "--votes-report", str(report)
    )
    assert proc.returncode == code, proc.stderr
    assert ("over budget" in proc.stderr) == (code == 1), proc.stderr
    assert bool(json.loads(report.read_text())["budget_problems"]) == (code == 1)  # in the run's report

"""scripts/delivery/check_locust_budget.py on Locust's own CSV: one written by a real short Locust
run against a local HTTP server, and hand-written ones for exact numbers."""

from __future__ import annotations

import csv
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.delivery.delivery_helpers import SCRIPTS, run, tool

HEADER = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
]


def check(stats: Path, ratio: str, p95: str, *extra: str) -> int:
    proc = run(
        sys.executable, SCRIPTS / "check_locust_budget.py", stats,
        "--max-failure-ratio", ratio, "--max-p95-ms", p95, *extra, check=False,
    )  # fmt: skip
    return proc.returncode


def write_stats(path: Path, rows: list[tuple[str, int, int, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for name, requests, failures, p95 in rows:
            row = dict.fromkeys(HEADER, "0") | {
                "Type": "" if name == "Aggregated" else "POST",
                "Name": name,
                "Request Count": str(requests),
                "Failure Count": str(failures),
                "95%": p95,
            }
            writer.writerow([row[h] for h in HEADER])
    return path


@pytest.mark.parametrize(
    ("requests", "failures", "p95", "ratio", "budget", "code"),
    [
        (1000, 5, "120", "0.01", "500", 0),  # within both budgets
        (1000, 5, "500", "0.005", "500", 0),  # exactly at both budgets
        (1000, 11, "120", "0.01", "500", 1),  # failure ratio 1.1% > 1%
        (1000, 0, "650", "0.01", "500", 1),  # p95 over
        (0, 0, "N/A", "0.01", "500", 1),  # nothing was sent: a failed run, not a pass
    ],
)
def test_budget(
    tmp_path: Path, requests: int, failures: int, p95: str, ratio: str, budget: str, code: int
) -> None:
    stats = write_stats(
        tmp_path / "x_stats.csv",
        [("/grpc", requests, failures, p95), ("Aggregated", requests, failures, p95)],
    )
    assert check(stats, ratio, budget) == code


def test_named_row_and_bad_files(tmp_path: Path) -> None:
    stats = write_stats(
        tmp_path / "x_stats.csv",
        [("/grpc", 100, 50, "900"), ("/healthz", 100, 0, "5"), ("Aggregated", 200, 50, "800")],
    )
    assert check(stats, "0.01", "10", "--name", "/healthz") == 0
    assert check(stats, "0.01", "10", "--name", "/nosuch") == 2
    assert check(tmp_path / "missing.csv", "0.01", "10") == 2
    (tmp_path / "junk.csv").write_text("Name,foo\nAggregated,1\n")
    assert check(tmp_path / "junk.csv", "0.01", "10") == 2


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "ok").write_text("ok")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path / "www", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_on_a_real_locust_run(tmp_path: Path, http_server: str) -> None:
    """Half the requests 404: Locust counts them as failures; the budget check reads Locust's CSV."""
    (tmp_path / "locustfile.py").write_text(
        "from locust import FastHttpUser, constant, task\n\n\n"
        "class Probe(FastHttpUser):\n"
        "    wait_time = constant(0.05)\n\n"
        "    @task\n"
        "    def both(self) -> None:\n"
        "        self.client.get('/ok')\n"
        "        self.client.get('/missing')\n"
    )
    stats = tmp_path / "run_stats.csv"
    for _attempt in range(3):  # a short headless run now and then ends before its first request
        run(
            tool(".venv/bin/locust"), "-f", tmp_path / "locustfile.py", "--headless", "-u", "2", "-r", "2",
            "-t", "4s", "--host", http_server, "--csv", tmp_path / "run", "--html", tmp_path / "run.html",
            "--only-summary", "--exit-code-on-error", "0", cwd=tmp_path,
        )  # fmt: skip
        if check(stats, "1", "1e9") == 0:
            break
    assert stats.is_file() and (tmp_path / "run.html").is_file()
    with stats.open(newline="") as handle:
        assert next(csv.reader(handle)) == HEADER, "the hand-written CSVs above follow Locust's own format"
    assert check(stats, "0.6", "60000") == 0  # ~50% failures, within a 60% budget
    assert check(stats, "0.1", "60000") == 1  # over a 10% budget
    assert check(stats, "0.6", "-1", "--name", "/ok") == 1  # any p95 is over a negative budget
    assert check(stats, "0.01", "60000", "--name", "/ok") == 0

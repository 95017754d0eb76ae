"""`make demo`'s load and report: sends the 1000-vote data set once through POST /grpc with Locust
(headless), waits for the consumer to count it, and prints what was sent, accepted and counted.

Exits non-zero when the counts in Redis or the logs in MongoDB differ from the votes answered 202.
Counts are deltas over this run, so the demo can run again on a stack that already holds votes.
The counts are read back from the results service's API; `--front`, `--results` and
`--consumer-metrics` point the demo at another deployment of the pipeline (`make demo-cluster`: the
local cluster's pods), by default the addresses of the settings (`make up`).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from votemon.dev.eventually import eventually
from votemon.settings import Settings

HERE = Path(__file__).parent
DATA = HERE / "data" / "votes.json"


def snapshot(results: str) -> dict[str, Any]:
    """The totals as the results service serves them (read from Redis)."""
    totals: dict[str, Any] = httpx.get(f"{results}/api/totals", timeout=10).raise_for_status().json()
    return totals


def logged(consumers: list[str]) -> int:
    """Log documents the consumers inserted into MongoDB (acknowledged), from their metrics: a count
    of the log itself scans it on FerretDB (minutes at millions of votes)."""
    total = 0
    for metrics_url in consumers:
        metrics = httpx.get(f"{metrics_url}/metrics", timeout=5).text
        found = re.search(r"^votes_logged_total ([0-9.e+]+)$", metrics, re.MULTILINE)
        total += int(float(found.group(1))) if found else 0
    return total


def counts(totals: dict[str, Any]) -> collections.Counter[str]:
    found: collections.Counter[str] = collections.Counter({"total": totals["total"]})
    found.update({row["band"]: row["votes"] for row in totals["bands"]})
    found.update({f"{row['band']} / {row['album']}": row["votes"] for row in totals["albums"]})
    return found


def run_locust(host: str, out: Path, users: int) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless", "--only-summary",
        "-u", str(users), "-r", str(users), "--host", host, "--votes-once", "--votes-file", str(DATA),
        "-t", "5m", "--html", str(out / "demo.html"), "--votes-report", str(out / "report.json"),
    ]  # fmt: skip
    print(f">> Locust: {users} users send each of the {DATA.name} votes once to {host}/grpc")
    subprocess.run(command, check=True, cwd=HERE)
    report: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report


def arguments() -> argparse.Namespace:
    settings = Settings()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--front", default=f"http://{settings.front_bind}", help="the HTTP front's URL")
    parser.add_argument(
        "--results", default=f"http://{settings.results_bind}", help="the results service's URL"
    )
    parser.add_argument(
        "--consumer-metrics",
        nargs="+",
        default=[f"http://{settings.consumer_metrics_bind}"],
        help="each consumer's metrics URL",
    )
    return parser.parse_args()


def main() -> int:
    settings = Settings()
    options = arguments()
    front, results, consumers = options.front, options.results, options.consumer_metrics
    out = HERE.parent / ".local" / "demo"
    votes = json.loads(DATA.read_text(encoding="utf-8"))
    expected = collections.Counter({"total": len(votes)})
    expected.update(v["name"] for v in votes)
    expected.update(f"{v['name']} / {v['album']}" for v in votes)

    before, logs_before = snapshot(results), logged(consumers)
    stats = run_locust(front, out, users=20)
    sent, refused = stats["sent"], stats["failed"]
    accepted = sent - refused

    def counted_now() -> collections.Counter[str]:
        return counts(snapshot(results)) - counts(before)

    with contextlib.suppress(AssertionError):  # what was counted by then is reported below either way
        eventually(lambda: counted_now()["total"] >= accepted, 60, "not every accepted vote counted", 0.2)
    counted = counted_now()
    in_log = logged(consumers) - logs_before

    print(f"\n{'':<42}{'expected':>10}{'counted':>10}")
    for key in sorted(expected, key=lambda k: (k != "total", "/" in k, k)):
        print(f"  {key:<40}{expected[key]:>10}{counted[key]:>10}")
    print(f"\n  votes sent                        {sent:>10}")
    print(f"  answered 202 (accepted)           {accepted:>10}")
    print(f"  refused                           {refused:>10}")
    print(f"  counted in Redis (votes:total)    {counted['total']:>10}")
    print(f"  logged in MongoDB (votes.logs)    {in_log:>10}")
    print(f"  latency p50 / p95 / p99 (ms)      {stats['p50_ms']} / {stats['p95_ms']} / {stats['p99_ms']}")
    print(f"  throughput (requests/s)           {stats['requests_per_second']:>10.1f}")
    print("\n  services:")
    print(f"    HTTP front       POST {front}/grpc   {front}/metrics")
    print(f"    results page     {results}/   (live totals, rate and the latest 20 votes)")
    print(f"    results API      {results}/api/totals   {results}/api/logs?limit=20")
    print(
        f"    gRPC server      {settings.grpc_target} (metrics http://{settings.grpc_metrics_bind}/metrics)"
    )
    print(f"    consumer         {'   '.join(f'{url}/metrics' for url in consumers)}")
    print(
        f"    Kafka {settings.kafka_bootstrap_servers}   Redis {settings.redis_url}"
        f"   MongoDB {settings.mongo_uri}"
    )
    print(f"    Locust report    {out / 'demo.html'}")

    exact = counted["total"] == accepted == in_log and (refused or counted == expected)
    print(
        "\nRESULT:",
        "every accepted vote counted exactly once" if exact else "MISMATCH between accepted and counted",
    )
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())

"""`make demo`'s load and report: the load command (loadtest.run) sending the 1000-vote data set once
through POST /grpc, without budgets or history, and then where each service of the local pipeline
answers. Exits non-zero when what was counted (results API) or logged (consumer metrics) differs
from the votes answered 202, per band, per album and in total."""

from __future__ import annotations

import sys

from loadtest import run
from votemon.dev.health import naming_what_is_down
from votemon.settings import Settings


def services(settings: Settings) -> str:
    front, results = f"http://{settings.front_bind}", f"http://{settings.results_bind}"
    return "\n".join(
        [
            "services:",
            f"  HTTP front       POST {front}/grpc   {front}/metrics",
            f"  results page     {results}/   (live totals, rate and the latest 20 votes)",
            f"  results API      {results}/api/totals   {results}/api/logs?limit=20",
            f"  gRPC server      {settings.grpc_target} (metrics http://{settings.grpc_metrics_bind}/metrics)",
            f"  consumer         http://{settings.consumer_metrics_bind}/metrics",
            f"  Kafka {settings.kafka_bootstrap_servers}   Redis {settings.redis_url}"
            f"   MongoDB {settings.mongo_uri}",
        ]
    )


def main(argv: list[str]) -> int:
    """`argv`: where the pipeline is, when not where the settings say (`make demo-cluster` passes the
    local cluster's front, results and consumers: --host, --results, --metrics)."""
    demo = ["--votes-once", "-u", "20", "-r", "20", "-t", "5m"]  # -t: a safety limit, never reached
    no_budgets_no_history = ["--max-failure-ratio", "off", "--max-p95-ms", "off", "--history", ""]
    code = run.main([*demo, *no_budgets_no_history, "--out", str(run.ROOT / ".local" / "demo"), *argv])
    if not argv:
        print("\n" + services(Settings()))
    return code


if __name__ == "__main__":
    with naming_what_is_down(Settings(), "make demo"):
        sys.exit(main(sys.argv[1:]))

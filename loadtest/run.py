"""`python -m loadtest`: the one load command (`make loadtest`, `make demo`, the loadtest workflow).

Locust (headless, loadtest/locustfile.py, the demo's votes) against a front; around it the
end-to-end check (loadtest.counts): the results API read before and after, a bounded wait until the
load is counted, counted = accepted per band, per album and in total; freshness p50/p99 from the
consumers' histogram. Then the report (terminal, $GITHUB_STEP_SUMMARY, HTML with a trend chart) and
one record appended to the history, compared with the median of the previous runs at the same
settings (loadtest.history). The record names the deployed image (the front's /healthz `version`, or
--image); with --grafana-url the run's window becomes a Grafana annotation (loadtest.grafana).

Exit code: 1 when a budget (failure ratio, p95) is missed or counted differs from accepted; a
regression only warns, unless --fail-on-regression (see docs/loadtest.md for why); 2 when the
pipeline cannot be read or Locust did not run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from loadtest import grafana, history, report
from loadtest.counts import (
    Counts,
    Pipeline,
    api_counts,
    expected_counts,
    freshness,
    mismatches,
    nan_to_none,
    wait_drained,
)
from votemon.settings import Settings

HERE = Path(__file__).parent
ROOT = HERE.parent
LOCUSTFILE = HERE / "locustfile.py"
DATA = HERE / "data" / "votes.json"
OUT = ROOT / ".local" / "loadtest"


class PipelineUnreadableError(RuntimeError):
    """The results API or a metrics endpoint did not answer: the message names which."""


def budget(text: str) -> float | None:
    return None if text == "off" else float(text)


def parser() -> argparse.ArgumentParser:
    settings = Settings()
    p = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.split("\n\n")[0])
    load = p.add_argument_group("load (Locust)")
    load.add_argument("--host", default=f"http://{settings.front_bind}", help="the front's base URL")
    load.add_argument("-u", "--users", type=int, default=20, help="concurrent users")
    load.add_argument("-r", "--spawn-rate", type=float, default=20, help="users started per second")
    load.add_argument("-t", "--duration", default="30s", help="run time (Locust -t: 30s, 2m)")
    load.add_argument(
        "--votes-once", action="store_true", help="send each vote of the data once, then end (make demo)"
    )
    load.add_argument("--votes-file", type=Path, default=DATA, help="JSON array of votes (the demo's data)")
    budgets = p.add_argument_group("budgets (Locust's exit code; 'off': none)")
    budgets.add_argument("--max-failure-ratio", type=budget, default=0.01, help="failed / sent")
    budgets.add_argument("--max-p95-ms", type=budget, default=500.0, help="p95 latency (ms)")
    check = p.add_argument_group("end-to-end check")
    check.add_argument(
        "--results", default=f"http://{settings.results_bind}", help="the results API's base URL"
    )
    check.add_argument(
        "--metrics",
        action="append",
        help="a consumer's /metrics URL, once per replica (default: the local consumer's)",
    )
    check.add_argument("--no-metrics", action="store_true", help="no freshness, no log count (not reachable)")
    check.add_argument("--drain-timeout", type=float, default=60, help="seconds to wait for the load counted")
    runs = p.add_argument_group("report and history")
    runs.add_argument("--out", type=Path, default=OUT, help="reports go to OUT/runs/<time>/")
    runs.add_argument("--history", default=str(OUT / "history.jsonl"), help="JSON Lines file ('': none)")
    runs.add_argument("--window", type=int, default=history.WINDOW, help="previous runs in the baseline")
    runs.add_argument("--threshold", type=float, default=history.THRESHOLD, help="regression threshold")
    runs.add_argument("--fail-on-regression", action="store_true", help="exit 1 on a regression")
    runs.add_argument("--sha", default="", help="the load code's commit (default: $GITHUB_SHA or HEAD)")
    runs.add_argument(
        "--image",
        default="",
        help="the deployed image, when the front's /healthz reports no version (else: unknown)",
    )
    runs.add_argument(
        "--grafana-url",
        default="",
        help=f"mark the run's window with a Grafana annotation there (token: ${grafana.TOKEN_ENV})",
    )
    p.set_defaults(metrics_default=f"http://{settings.consumer_metrics_bind}/metrics")
    return p


def git_sha() -> str:
    if sha := os.environ.get("GITHUB_SHA"):
        return sha
    found = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return found.stdout.strip() or "unknown"


def run_locust(options: argparse.Namespace, out: Path) -> tuple[int, dict[str, Any]]:
    """Locust headless in `out` (its files stay there, never in the checkout): its exit code (the
    budgets' verdict) and the final totals the locustfile wrote."""
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "-u", str(options.users), "-r", str(options.spawn_rate), "-t", options.duration,
        "--host", options.host, "--votes-file", str(options.votes_file.resolve()),
        "--html", str(out / "locust.html"), "--csv", str(out / "locust"),
        "--votes-report", str(out / "locust.json"),
        # at the run time limit each user finishes the request it has in flight, so that a vote the
        # front accepted is also counted as accepted here (killed mid-request, it was counted only)
        "--stop-timeout", "30",
    ]  # fmt: skip
    for flag, limit in (
        ("--max-failure-ratio", options.max_failure_ratio),
        ("--max-p95-ms", options.max_p95_ms),
    ):
        if limit is not None:
            command += [flag, str(limit)]
    if options.votes_once:
        command.append("--votes-once")
    mode = "each vote once" if options.votes_once else f"for {options.duration}"
    print(f">> Locust: {options.users} users send {options.votes_file.name} {mode} to {options.host}/grpc")
    code = subprocess.run(command, cwd=out, check=False).returncode
    try:
        totals: dict[str, Any] = json.loads((out / "locust.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineUnreadableError(f"Locust ended (exit {code}) without its report: see above") from None
    return code, totals


def run_settings(options: argparse.Namespace) -> dict[str, Any]:
    """What makes two runs comparable (budgets are not: they judge a run, they do not shape it)."""
    return {
        "target": options.host,
        "users": options.users,
        "spawn_rate": options.spawn_rate,
        "duration": "once" if options.votes_once else options.duration,
        "votes": options.votes_file.name,
    }


def delta(after: Counts, before: Counts) -> Counts:
    return Counts({key: after[key] - before[key] for key in set(after) | set(before)})


def build_record(
    *,
    options: argparse.Namespace,
    locust: dict[str, Any],
    expected: Counts,
    counted: Counts,
    drained: bool,
    logged: int | None,
    fresh: dict[str, float | None],
    earlier: Sequence[dict[str, Any]],
    image: str,
) -> dict[str, Any]:
    """One run as the history keeps it: when, which load code (`sha`) against which deployed image,
    its settings, budgets, figures, the counts, the verdicts and the comparison with the earlier runs
    at the same settings."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sent, failed = locust["sent"], locust["failed"]
    figures = {
        "requests_per_second": locust["requests_per_second"],
        "p50_ms": locust["p50_ms"],
        "p95_ms": locust["p95_ms"],
        "p99_ms": locust["p99_ms"],
        "sent": sent,
        "failed": failed,
        "failure_ratio": failed / sent if sent else 0.0,
        "accepted": expected["total"],
        "counted": counted["total"],
        "logged": logged,
        **fresh,
    }
    settings = run_settings(options)
    comparisons = history.compare(figures, settings, earlier, options.window, options.threshold)
    wrong = mismatches(expected, counted)
    if not expected["total"]:
        wrong.insert(0, "no vote was accepted: the run proves nothing about counting")
    count_ok = not wrong and (logged is None or logged == expected["total"])
    problems = locust.get("budget_problems") or []
    return {
        "id": f"{now}-{uuid.uuid4().hex[:8]}",
        "time": now,
        "sha": options.sha or git_sha(),
        "image": image,
        "settings": settings,
        "budgets": {"max_failure_ratio": options.max_failure_ratio, "max_p95_ms": options.max_p95_ms},
        "figures": figures,
        "counts": {"accepted": dict(expected), "counted": dict(counted), "drained": drained},
        "verdicts": {
            "budget": "fail" if problems else "pass",
            "budget_problems": problems,
            "counted_equals_accepted": count_ok,
            "mismatches": wrong,
        },
        "baseline": {
            c.measure.name: {
                "median": None if c.runs == 0 else c.baseline,
                "runs": c.runs,
                "change": None if math.isnan(c.change) else c.change,
            }
            for c in comparisons
        },
        "regressed": [c.measure.name for c in comparisons if c.regressed],
        "regressions": history.regressions(comparisons),
        "threshold": options.threshold,
    }


def read_pipeline(pipeline: Pipeline, bands: set[str]) -> tuple[Counts, Any]:
    try:
        return api_counts(pipeline.totals(), bands), pipeline.scrape()
    except httpx.HTTPError as error:
        raise PipelineUnreadableError(
            f"the pipeline cannot be read ({error!r}): the results API at {pipeline.results} and the "
            f"metrics at {', '.join(pipeline.metrics) or '(none)'} must answer; `make up` starts them "
            "locally, or pass --results, --metrics or --no-metrics"
        ) from error


def publish(record: dict[str, Any], same_settings: list[dict[str, Any]], out: Path) -> Path:
    """The record and the HTML report in `out`, the table on the terminal and, in GitHub Actions, in
    the step summary with annotations."""
    (out / "record.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    page = out / "report.html"
    page.write_text(report.html_page(record, same_settings, "locust.html"), encoding="utf-8")
    print("\n" + report.terminal(record))
    print(f"\n>> report: {page}\n>> Locust's own report: {out / 'locust.html'}")
    if summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        with Path(summary).open("a", encoding="utf-8") as step:
            step.write(report.markdown(record) + "\n")
    if os.environ.get("GITHUB_ACTIONS"):
        for line in record["regressions"]:
            print(f"::warning title=load test regression::{line}")
        for line in record["verdicts"]["budget_problems"] + record["verdicts"]["mismatches"]:
            print(f"::error title=load test::{line}")
    return page


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    metrics = [] if options.no_metrics else (options.metrics or [options.metrics_default])
    votes = json.loads(options.votes_file.read_text(encoding="utf-8"))
    bands = {vote["name"] for vote in votes}
    history_path = Path(options.history) if options.history else None
    earlier = history.read(history_path) if history_path else []
    out = options.out / "runs" / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(options.results, metrics)
    image = grafana.deployed_image(options.host, options.image)
    started = time.time()
    try:
        before, scrape_before = read_pipeline(pipeline, bands)
        code, locust = run_locust(options, out)
        if code not in {0, 1}:
            raise PipelineUnreadableError(f"Locust failed (exit {code}): see its output above")
        expected = expected_counts(locust["accepted"])
        print(
            f">> waiting (at most {options.drain_timeout:g} s) until the "
            f"{expected['total']} accepted votes are counted"
        )
        counted, drained = wait_drained(
            lambda: delta(read_pipeline(pipeline, bands)[0], before), expected, options.drain_timeout
        )
        scrape_after = pipeline.scrape() if scrape_before is not None else None
        ended = time.time()
    except PipelineUnreadableError as error:
        print(f"loadtest: {error}", file=sys.stderr)
        return 2
    except httpx.HTTPError as error:
        print(
            f"loadtest: the consumers' metrics at {', '.join(metrics)} did not answer: {error!r}",
            file=sys.stderr,
        )
        return 2
    finally:
        pipeline.close()
    fresh: dict[str, float | None] = {"freshness_p50_s": None, "freshness_p99_s": None}
    logged = None
    if scrape_before is not None and scrape_after is not None:
        fresh = nan_to_none(freshness(scrape_before, scrape_after))
        logged = round(scrape_after.logged - scrape_before.logged)
    record = build_record(
        options=options,
        locust=locust,
        expected=expected,
        counted=counted,
        drained=drained,
        logged=logged,
        fresh=fresh,
        earlier=earlier,
        image=image,
    )
    same = [*history.same_settings(earlier, record["settings"]), record]
    publish(record, same, out)
    if history_path and history.append(history_path, record):
        print(f">> history: {history_path} ({len(same)} run(s) at these settings)")
    if options.grafana_url:
        window = grafana.annotation(record, start_ms=int(started * 1000), end_ms=int(ended * 1000))
        if warning := grafana.annotate(options.grafana_url, window):
            print(f"loadtest: warning: {warning}", file=sys.stderr)
            if os.environ.get("GITHUB_ACTIONS"):
                print(f"::warning title=load test annotation::{warning}")
        else:
            print(f">> Grafana: the run's window is annotated at {options.grafana_url}")
    failed = record["verdicts"]["budget"] == "fail" or not record["verdicts"]["counted_equals_accepted"]
    regressed = bool(record["regressions"]) and options.fail_on_regression
    return 1 if failed or regressed else 0

"""Locust load: POST /grpc one vote per request, from loadtest/data/votes.json.

    locust -f loadtest/locustfile.py --headless -u 20 -r 20 -t 1m --host http://127.0.0.1:8080
    locust -f loadtest/locustfile.py --headless -u 20 -r 20 --host ... --votes-once  # each vote once

A reply other than 202 is a failure in Locust's statistics. With ``--max-failure-ratio 0.01`` and/or
``--max-p95-ms 500`` the exit code is the budget's verdict (1 over, 0 within).
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.exception import StopUser

DATA = Path(__file__).with_name("data") / "votes.json"


def _arguments(parser: Any) -> None:
    parser.add_argument("--votes-file", default=str(DATA), help="JSON array of votes to send")
    parser.add_argument(
        "--votes-once", action="store_true", default=False, help="send each vote once, then stop the run"
    )
    parser.add_argument("--votes-report", default="", help="write the run's final totals here as JSON")
    parser.add_argument(
        "--max-failure-ratio", type=float, default=None, help="budget: exit 1 above this failure ratio"
    )
    parser.add_argument("--max-p95-ms", type=float, default=None, help="budget: exit 1 above this p95 (ms)")


events.init_command_line_parser.add_listener(_arguments)


class VoteFeed:
    """Hands out votes to every simulated user: cycling forever, or each once."""

    def __init__(self, environment: Environment) -> None:
        options = environment.parsed_options
        assert options is not None, "run by the locust command"
        votes = json.loads(Path(options.votes_file).read_text(encoding="utf-8"))
        self.once = bool(options.votes_once)
        self._votes: Iterator[dict[str, Any]] = iter(votes) if self.once else itertools.cycle(votes)
        self.in_flight = 0
        self.ended = False
        # votes answered 202, per "band / album": what the end-to-end check expects to be counted
        self.accepted: collections.Counter[str] = collections.Counter()

    def next(self) -> dict[str, Any] | None:
        return next(self._votes, None)


def _feed(environment: Environment, **_: Any) -> None:
    environment.vote_feed = VoteFeed(environment)  # type: ignore[attr-defined]


events.init.add_listener(_feed)


def _report(environment: Environment, **_: Any) -> None:
    """The final totals, taken when the run ends (Locust's CSV may miss the last requests), with the
    votes answered 202 per band and album and the budget's problems (None: no budget given)."""
    path = environment.parsed_options.votes_report if environment.parsed_options else ""
    if not path:
        return
    total = environment.stats.total
    report = {
        "sent": total.num_requests,
        "failed": total.num_failures,
        "requests_per_second": total.total_rps,
        "p50_ms": total.get_response_time_percentile(0.5),
        "p95_ms": total.get_response_time_percentile(0.95),
        "p99_ms": total.get_response_time_percentile(0.99),
        "accepted": dict(environment.vote_feed.accepted),  # type: ignore[attr-defined]
        "budget_problems": getattr(environment, "budget_problems", None),
    }
    Path(path).write_text(json.dumps(report, indent=2), encoding="utf-8")


# Locust fires `quitting` in reverse order of registration: the budget's verdict, then this report.
events.quitting.add_listener(_report)


def _budget(environment: Environment, **_: Any) -> None:
    """With --max-failure-ratio or --max-p95-ms, the budget is the exit code: 1 when the run (all
    requests together) is over it or made no request, 0 within it (failures within budget pass).
    The problems found are kept for the run's report (`_report`)."""
    options = environment.parsed_options
    max_ratio = options.max_failure_ratio if options else None
    max_p95 = options.max_p95_ms if options else None
    environment.budget_problems = None  # type: ignore[attr-defined]
    if max_ratio is None and max_p95 is None:
        return
    total = environment.stats.total
    ratio, p95 = total.fail_ratio, total.get_response_time_percentile(0.95)
    problems = []
    if not total.num_requests:
        problems.append("no request was made")
    if max_ratio is not None and total.num_requests and ratio > max_ratio:
        problems.append(f"failure ratio {ratio:.4f} > budget {max_ratio:g}")
    if max_p95 is not None and total.num_requests and p95 > max_p95:
        problems.append(f"p95 {p95:g} ms > budget {max_p95:g} ms")
    verdict = "over budget: " + "; ".join(problems) if problems else "within budget"
    line = f"{total.num_requests} requests, failure ratio {ratio:.4f}, p95 {p95:g} ms: {verdict}"
    logging.getLogger("budget").log(logging.ERROR if problems else logging.INFO, line)
    environment.budget_problems = problems  # type: ignore[attr-defined]
    environment.process_exit_code = 1 if problems else 0


events.quitting.add_listener(_budget)


class Voter(FastHttpUser):
    @task
    def cast(self) -> None:
        feed: VoteFeed = self.environment.vote_feed
        vote = feed.next()
        if vote is None:
            # Every vote was handed out (--votes-once): this user stops (StopUser). The last one to
            # get its answer also ends the run: runner.quit() stops the users and the runner, and the
            # headless run writes its reports and prints the table. It runs in a greenlet of its own,
            # since quitting from a user's greenlet kills that greenlet before the runner is stopped.
            if not feed.in_flight and not feed.ended and self.environment.runner is not None:
                feed.ended = True
                gevent.spawn(self.environment.runner.quit)
            raise StopUser
        feed.in_flight += 1
        try:
            with self.client.post("/grpc", json=vote, name="/grpc", catch_response=True) as response:
                if response.status_code == 202:
                    feed.accepted[f"{vote['name']} / {vote['album']}"] += 1
                else:
                    response.failure(f"{response.status_code}: {response.text[:200]}")
        finally:
            feed.in_flight -= 1

"""Locust load: POST /grpc one vote per request, from loadtest/data/votes.json.

    locust -f loadtest/locustfile.py --headless -u 20 -r 20 -t 1m --host http://127.0.0.1:8080
    locust -f loadtest/locustfile.py --headless -u 20 -r 20 --host ... --votes-once  # each vote once

A reply other than 202 is a failure in Locust's statistics.
"""

from __future__ import annotations

import itertools
import json
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

    def next(self) -> dict[str, Any] | None:
        return next(self._votes, None)


def _feed(environment: Environment, **_: Any) -> None:
    environment.vote_feed = VoteFeed(environment)  # type: ignore[attr-defined]


events.init.add_listener(_feed)


def _report(environment: Environment, **_: Any) -> None:
    """The final totals, taken when the run ends (Locust's CSV may miss the last requests)."""
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
    }
    Path(path).write_text(json.dumps(report, indent=2), encoding="utf-8")


events.quitting.add_listener(_report)


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
                if response.status_code != 202:
                    response.failure(f"{response.status_code}: {response.text[:200]}")
        finally:
            feed.in_flight -= 1

"""The end-to-end check of a load: what the pipeline counted (the results API, read before and after)
against what the front accepted (answered 202, per band and album, as Locust saw it), and how fresh
the counts were (the consumer's own histogram, read before and after from its /metrics).

Counts are deltas over the run, of the bands the load sent only: the stack (or the deployment) may
hold any other votes, and keep taking them, without changing the verdict.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from votemon.dev.eventually import eventually
from votemon.dev.prometheus_text import bucket_delta, histogram_quantile, metric, parse_histogram

TOTAL = "total"  # the key of the load's bands together
FRESHNESS = "votes_freshness_seconds"
LOGGED = "votes_logged_total"

Counts = collections.Counter[str]


def expected_counts(accepted: Mapping[str, int]) -> Counts:
    """From votes accepted per "band / album": the counts per album, per band and in total."""
    found: Counts = collections.Counter()
    for key, votes in accepted.items():
        band = key.partition(" / ")[0]
        found.update({key: votes, band: votes, TOTAL: votes})
    return found


def api_counts(totals: Mapping[str, Any], bands: Iterable[str]) -> Counts:
    """The results API's /api/totals, restricted to `bands`: per album, per band, and their total."""
    wanted = set(bands)
    found: Counts = collections.Counter()
    for row in totals["bands"]:
        if row["band"] in wanted:
            found.update({row["band"]: row["votes"], TOTAL: row["votes"]})
    for row in totals["albums"]:
        if row["band"] in wanted:
            found[f"{row['band']} / {row['album']}"] += row["votes"]
    return found


def mismatches(expected: Counts, counted: Counts) -> list[str]:
    """Every key (total, band, album) whose count differs from the votes accepted."""
    return [
        f"{key}: accepted {expected[key]}, counted {counted[key]}"
        for key in ordered(set(expected) | set(counted))
        if expected[key] != counted[key]
    ]


def ordered(keys: Iterable[str]) -> list[str]:
    """The total first, then the bands, then the albums, each alphabetically."""
    return sorted(keys, key=lambda k: (k != TOTAL, " / " in k, k))


@dataclass
class Scrape:
    """What the consumers' /metrics said at one moment, summed over the replicas given."""

    logged: float = 0.0
    freshness: dict[float, float] = field(default_factory=dict)


def parse_scrape(texts: Iterable[str]) -> Scrape:
    scrape = Scrape()
    for text in texts:
        scrape.logged += metric(text, LOGGED)
        for bound, count in parse_histogram(text, FRESHNESS).items():
            scrape.freshness[bound] = scrape.freshness.get(bound, 0.0) + count
    return scrape


def freshness(before: Scrape, after: Scrape) -> dict[str, float]:
    """p50 and p99 (seconds) of the votes counted between the two scrapes; NaN when none was."""
    delta = bucket_delta(after.freshness, before.freshness)
    return {
        "freshness_p50_s": histogram_quantile(0.5, delta),
        "freshness_p99_s": histogram_quantile(0.99, delta),
    }


class Pipeline:
    """The deployed pipeline as the load test reads it: the results API and, when given, the
    consumers' metrics endpoints (one per replica; none: no freshness and no log count)."""

    def __init__(self, results: str, metrics: Sequence[str], timeout: float = 10) -> None:
        self.results = results.rstrip("/")
        self.metrics = list(metrics)
        self.http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def totals(self) -> dict[str, Any]:
        reply = self.http.get(f"{self.results}/api/totals")
        reply.raise_for_status()
        totals: dict[str, Any] = reply.json()
        return totals

    def scrape(self) -> Scrape | None:
        if not self.metrics:
            return None
        texts = []
        for url in self.metrics:
            reply = self.http.get(url)
            reply.raise_for_status()
            texts.append(reply.text)
        return parse_scrape(texts)


def wait_drained(
    read: Callable[[], Counts], expected: Counts, within: float, interval: float = 0.5
) -> tuple[Counts, bool]:
    """Poll `read` until every key has at least its expected count and two reads in a row agree
    (the consumer has caught up and nothing of the load is still arriving), for at most `within`
    seconds. Returns the last counts and whether they settled; a count past the expected one does
    not end the wait early, so a late double count shows too."""
    last: list[Counts] = []

    def settled() -> bool:
        now = read()
        previous = last[-1] if last else None
        last.append(now)
        caught_up = all(now[key] >= votes for key, votes in expected.items())
        return caught_up and now == previous

    drained = True
    try:
        eventually(settled, "the load counted", within=within, interval=interval, ignoring=(httpx.HTTPError,))
    except AssertionError:
        drained = False
    return (last[-1] if last else collections.Counter()), drained


def nan_to_none(values: Mapping[str, float]) -> dict[str, float | None]:
    """JSON has no NaN: a figure that could not be measured is null."""
    return {k: None if math.isnan(v) else v for k, v in values.items()}

"""Prometheus' text format as the bench and the load test read a service's /metrics: an unlabelled
sample, a histogram's cumulative buckets, their difference over a run and its quantile the way
Prometheus' histogram_quantile computes it. One reader, so the bench and the load test's freshness
figures are computed the same way."""

from __future__ import annotations

import math
from collections.abc import Mapping


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float:
    """Prometheus' histogram_quantile over cumulative bucket counts {upper bound: count}.

    Interpolates linearly inside the bucket; the +Inf bucket returns the highest finite bound.
    NaN when the histogram is empty.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"q must be in [0, 1], got {q}")
    bounds = sorted(buckets)
    if not bounds:
        return math.nan
    total = buckets[bounds[-1]]
    if total <= 0:
        return math.nan
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return previous_bound
            if count == previous_count:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (
                count - previous_count
            )
        previous_bound, previous_count = bound, count
    return bounds[-1]


def bucket_delta(after: Mapping[float, float], before: Mapping[float, float]) -> dict[float, float]:
    """The cumulative buckets of the observations made between two scrapes."""
    return {bound: after[bound] - before.get(bound, 0.0) for bound in after}


def parse_histogram(text: str, name: str) -> dict[float, float]:
    """Cumulative buckets of one histogram (summed over label sets) from Prometheus text format."""
    prefix = f"{name}_bucket{{"
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        labels, _, value = line[len(prefix) :].partition("} ")
        for label in labels.split(","):
            key, _, raw = label.partition("=")
            if key == "le":
                bound = float(raw.strip('"'))
                buckets[bound] = buckets.get(bound, 0.0) + float(value)
    return buckets


def metric(text: str, name: str) -> float:
    """The value of an unlabelled sample in Prometheus' text format (0 when absent)."""
    for line in text.splitlines():
        sample, _, value = line.partition(" ")
        if sample == name:
            return float(value)
    return 0.0

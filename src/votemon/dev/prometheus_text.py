"""Prometheus' text format as the bench and the load test read a service's /metrics: an unlabelled
sample, a histogram's cumulative buckets (or, per label, its buckets and sum), their difference over
a run and its quantile the way Prometheus' histogram_quantile computes it. One reader, so the bench
and the load test's figures are computed the same way."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass


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


def _labelled(text: str, sample: str) -> Iterator[tuple[dict[str, str], float]]:
    """The label sets and values of a labelled sample (`name{a="x",le="0.1"} 3.0`)."""
    prefix = f"{sample}{{"
    for line in text.splitlines():
        if line.startswith(prefix):
            labels, _, value = line[len(prefix) :].partition("} ")
            pairs = (label.partition("=") for label in labels.split(","))
            yield {key: raw.strip('"') for key, _, raw in pairs}, float(value)


def parse_histogram(text: str, name: str) -> dict[float, float]:
    """Cumulative buckets of one histogram (summed over label sets) from Prometheus text format."""
    buckets: dict[float, float] = {}
    for labels, value in _labelled(text, f"{name}_bucket"):
        bound = float(labels["le"])
        buckets[bound] = buckets.get(bound, 0.0) + value
    return buckets


@dataclass(frozen=True)
class Observed:
    """One label set of a histogram: cumulative buckets {upper bound: count} and the sum observed."""

    buckets: dict[float, float]
    total: float

    @property
    def count(self) -> float:
        return self.buckets.get(math.inf, 0.0)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count > 0 else math.nan

    def since(self, before: Observed | None) -> Observed:
        """What was observed after `before` (None: nothing before, as for a label set not seen yet)."""
        if before is None:
            return self
        return Observed(bucket_delta(self.buckets, before.buckets), self.total - before.total)


def parse_histograms(text: str, name: str, label: str = "") -> dict[str, Observed]:
    """Each label set of one histogram by the value of `label`; "" where it has none, as for an
    unlabelled histogram (no `label`)."""
    buckets: dict[str, dict[float, float]] = {}
    for labels, value in _labelled(text, f"{name}_bucket"):
        buckets.setdefault(labels.get(label, ""), {})[float(labels["le"])] = value
    totals = {labels.get(label, ""): value for labels, value in _labelled(text, f"{name}_sum")}
    totals.setdefault("", metric(text, f"{name}_sum"))  # an unlabelled histogram's sum has no braces
    return {key: Observed(found, totals.get(key, 0.0)) for key, found in buckets.items()}


def metric(text: str, name: str) -> float:
    """The value of an unlabelled sample in Prometheus' text format (0 when absent)."""
    for line in text.splitlines():
        sample, _, value = line.partition(" ")
        if sample == name:
            return float(value)
    return 0.0

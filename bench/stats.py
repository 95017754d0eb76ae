"""The bench's pure logic: percentiles, the open-loop schedule, histogram quantiles, the result table."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100) of values; NaN when there are none.

    Nearest rank never interpolates below an observed value, so a p99 is a latency that
    at least 1% of the requests really had.
    """
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100], got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def summarize(latencies: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max of latencies in seconds."""
    return {
        "p50": percentile(latencies, 50),
        "p90": percentile(latencies, 90),
        "p99": percentile(latencies, 99),
        "p999": percentile(latencies, 99.9),
        "max": max(latencies) if latencies else math.nan,
    }


def open_loop_schedule(rate: float, duration: float, start: float = 0.0) -> list[float]:
    """Send times of a constant-rate arrival process: start + i / rate for every i that fits.

    Latency is measured from these times, not from when a request really left: a stalled
    server makes the queued requests late, and their lateness counts (no coordinated omission).
    """
    if rate <= 0 or duration <= 0:
        return []
    count = math.floor(rate * duration + 1e-9)
    return [start + i / rate for i in range(count)]


def median(values: Iterable[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


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


@dataclass(frozen=True)
class Row:
    """One line of the result table; `target` None means informative only."""

    measure: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    detail: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        if math.isnan(self.value):
            return "MISS"
        met = self.value >= self.target if self.higher_is_better else self.value <= self.target
        return "PASS" if met else "MISS"

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        return f"{'≥' if self.higher_is_better else '≤'} {format_number(self.target)} {self.unit}".strip()


def format_number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| measure | value | target | verdict | detail |", "|---|---:|---|---|---|"]
    for row in rows:
        value = f"{format_number(row.value)} {row.unit}".strip()
        lines.append(f"| {row.measure} | {value} | {row.target_text} | {row.verdict} | {row.detail} |")
    return "\n".join(lines)


def text_table(rows: Sequence[Row]) -> str:
    """The same table for a terminal, in aligned columns."""
    header = ("measure", "value", "target", "verdict", "detail")
    cells = [header] + [
        (r.measure, f"{format_number(r.value)} {r.unit}".strip(), r.target_text, r.verdict, r.detail)
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    out = []
    for row in cells:
        out.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        )
    return "\n".join(line.rstrip() for line in out)


def ratio(numerator: float, denominator: float) -> float:
    if denominator == 0 or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return numerator / denominator

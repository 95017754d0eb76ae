"""The bench's pure logic: percentiles, the load generators' summaries, CPU per unit, the result table,
the stage breakdown (a /metrics page is read by votemon.dev.prometheus_text, shared with the load test)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from votemon.dev.prometheus_text import Observed, histogram_quantile


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


def median(values: Iterable[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


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


ROW_HEADER = ("measure", "value", "target", "verdict", "detail")


def row_cells(rows: Sequence[Row]) -> list[tuple[str, ...]]:
    return [
        (r.measure, f"{format_number(r.value)} {r.unit}".strip(), r.target_text, r.verdict, r.detail)
        for r in rows
    ]


def markdown(header: Sequence[str], cells: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A Markdown table; the columns at the indexes `numeric` aligned right."""
    rule = "|".join("---:" if i in numeric else "---" for i in range(len(header)))
    lines = [f"| {' | '.join(header)} |", f"|{rule}|"]
    lines += [f"| {' | '.join(row)} |" for row in cells]
    return "\n".join(lines)


def aligned(header: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    """The same for a terminal: columns padded to their widest cell, the last one as it is."""
    table = [header, *cells]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(row, [*widths, 0], strict=True)) for row in table]
    return "\n".join(line.rstrip() for line in out)


def markdown_table(rows: Sequence[Row]) -> str:
    return markdown(ROW_HEADER, row_cells(rows), numeric=(1,))


def text_table(rows: Sequence[Row]) -> str:
    """The same table for a terminal, in aligned columns."""
    return aligned(ROW_HEADER, row_cells(rows))


def ratio(numerator: float, denominator: float) -> float:
    if denominator == 0 or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return numerator / denominator


def cpu_per_unit(before: Mapping[str, float], after: Mapping[str, float], units: float) -> dict[str, float]:
    """Microseconds of CPU each process spent per unit (request, vote, record) between two readings."""
    if units <= 0:
        return dict.fromkeys(after, math.nan)
    return {name: (after[name] - before[name]) / units * 1e6 for name in after}


def wrk_summary(raw: Mapping[str, int]) -> dict[str, object]:
    """bench/wrk.lua's line: answers other than 2xx/3xx and socket errors are not counted as done."""
    seconds = raw["duration_us"] / 1e6
    failed = raw["non_2xx"] + raw["read_errors"] + raw["write_errors"]
    ok = max(0, raw["requests"] - failed)
    return {
        "seconds": seconds,
        "ok": ok,
        "failed": failed + raw["connect_errors"] + raw["timeouts"],
        "throughput": ok / seconds if seconds > 0 else math.nan,
        "latency": {q: raw[f"{q}_us"] / 1e6 for q in ("p50", "p90", "p99", "max")},
    }


def vegeta_summary(results: Iterable[tuple[int, float]], seconds: float) -> dict[str, object]:
    """(status, latency in seconds) of every request of an open-loop run; status 0 is a transport error.

    Latencies are of the 2xx answers only: a quick refusal must not make the accepted look fast.
    """
    statuses: Counter[str] = Counter()
    accepted = []
    for status, latency in results:
        statuses[str(status)] += 1
        if 200 <= status < 300:
            accepted.append(latency)
    return {
        "seconds": seconds,
        "ok": len(accepted),
        "statuses": dict(statuses),
        "sent_rate": sum(statuses.values()) / seconds,
        "throughput": len(accepted) / seconds,
        "latency": summarize(accepted),
    }


@dataclass(frozen=True)
class StageRow:
    """One stage over a run, from its histogram's delta: seconds, quantiles from the buckets as
    Prometheus' histogram_quantile estimates them, and its mean's share of the total's mean."""

    stage: str
    count: float
    mean: float
    p50: float
    p99: float
    share: float


STAGE_HEADER = ("stage", "count", "mean", "p50", "p99", "share of total")
NOTHING = Observed({}, 0.0)


def histograms_since(after: Mapping[str, Observed], before: Mapping[str, Observed]) -> dict[str, Observed]:
    """What each histogram observed between two scrapes of the services' /metrics."""
    return {name: observed.since(before.get(name)) for name, observed in after.items()}


def breakdown(observed: Mapping[str, Observed], stages: Sequence[str], total: str) -> list[StageRow]:
    """The stages in order, then their total; a stage that observed nothing reads count 0, n/a."""
    whole = observed.get(total, NOTHING)

    def row(name: str) -> StageRow:
        seen = observed.get(name, NOTHING)
        p50, p99 = (histogram_quantile(q, seen.buckets) for q in (0.5, 0.99))
        return StageRow(name, seen.count, seen.mean, p50, p99, ratio(seen.mean, whole.mean))

    return [row(name) for name in (*stages, total)]


def milliseconds(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{format_number(seconds * 1e3)} ms"


def stage_cells(rows: Sequence[StageRow]) -> list[tuple[str, ...]]:
    return [
        (
            r.stage,
            f"{r.count:,.0f}",
            milliseconds(r.mean),
            milliseconds(r.p50),
            milliseconds(r.p99),
            "n/a" if math.isnan(r.share) else f"{r.share:.0%}",
        )
        for r in rows
    ]


def stage_text_table(rows: Sequence[StageRow]) -> str:
    return aligned(STAGE_HEADER, stage_cells(rows))


def stage_markdown_table(rows: Sequence[StageRow]) -> str:
    return markdown(STAGE_HEADER, stage_cells(rows), numeric=(1, 2, 3, 4, 5))

"""The runs' history and the regression check: one JSON record per run, one line each (JSON Lines),
compared with the median of the previous runs at the same settings.

A run regresses when one of `MEASURES` is worse than the median of the previous `window` runs at the
same settings by more than `threshold` (relative) AND by more than the measure's absolute slack: a
p95 going from 2 ms to 3 ms is +50 % but only noise. Runs at other settings (users, spawn rate,
duration, target, mode) are never compared: their figures answer another question.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WINDOW = 5  # previous runs at the same settings whose median is the baseline
THRESHOLD = 0.25  # worse than the baseline by more than this fraction: a regression


@dataclass(frozen=True)
class Measure:
    """A figure the regression check watches, which way is better, and the change below which a
    difference is noise whatever its ratio (in the figure's unit)."""

    name: str
    label: str
    unit: str
    higher_is_better: bool
    slack: float


MEASURES = (
    Measure("requests_per_second", "requests/s", "req/s", higher_is_better=True, slack=5.0),
    Measure("p95_ms", "latency p95", "ms", higher_is_better=False, slack=5.0),
    Measure("freshness_p99_s", "freshness p99", "s", higher_is_better=False, slack=0.05),
)


@dataclass(frozen=True)
class Comparison:
    """One measure of this run against the baseline: the median of `runs` previous runs."""

    measure: Measure
    value: float
    baseline: float
    runs: int
    threshold: float

    @property
    def change(self) -> float:
        """Relative change from the baseline (+0.30 = 30 % more); NaN without one."""
        if math.isnan(self.value) or math.isnan(self.baseline) or self.baseline == 0:
            return math.nan
        return (self.value - self.baseline) / self.baseline

    @property
    def regressed(self) -> bool:
        if math.isnan(self.change):
            return False
        worse = -self.change if self.measure.higher_is_better else self.change
        return worse > self.threshold and abs(self.value - self.baseline) > self.measure.slack


def settings_key(settings: dict[str, Any]) -> str:
    """Two runs are comparable when this is equal."""
    return json.dumps(settings, sort_keys=True)


def figure(record: dict[str, Any], name: str) -> float:
    value = record.get("figures", {}).get(name)
    return math.nan if value is None else float(value)


def same_settings(history: Iterable[dict[str, Any]], settings: dict[str, Any]) -> list[dict[str, Any]]:
    key = settings_key(settings)
    return [record for record in history if settings_key(record.get("settings", {})) == key]


def compare(
    figures: dict[str, Any],
    settings: dict[str, Any],
    history: Sequence[dict[str, Any]],
    window: int = WINDOW,
    threshold: float = THRESHOLD,
) -> list[Comparison]:
    """Each measure against the median of the last `window` earlier runs at these settings (a run
    whose figure is missing, e.g. freshness without metrics, does not count for that measure)."""
    earlier = same_settings(history, settings)
    result = []
    for measure in MEASURES:
        values = [v for r in earlier if not math.isnan(v := figure(r, measure.name))][-window:]
        value = figures.get(measure.name)
        result.append(
            Comparison(
                measure,
                math.nan if value is None else float(value),
                statistics.median(values) if values else math.nan,
                len(values),
                threshold,
            )
        )
    return result


def regressions(comparisons: Iterable[Comparison]) -> list[str]:
    """One line per regressed measure, saying by how much and against what."""
    return [
        f"{c.measure.label} {c.value:.4g} {c.measure.unit} vs median {c.baseline:.4g} of {c.runs} "
        f"previous run(s): {c.change:+.0%} (threshold ±{c.threshold:.0%})"
        for c in comparisons
        if c.regressed
    ]


def read(path: Path) -> list[dict[str, Any]]:
    """The records of a history file, oldest first; a missing file is an empty history. A line that
    is not a JSON object (a truncated write) is skipped rather than losing the rest."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def append(path: Path, record: dict[str, Any]) -> bool:
    """Append `record` unless a record with its id is there already (a retried push replays this on
    a fresh copy of the branch, and must not write it twice), on a line of its own even after a
    torn last line; True when written."""
    if any(existing.get("id") == record["id"] for existing in read(path)):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = path.exists() and not path.read_bytes().endswith(b"\n") and path.stat().st_size > 0
    with path.open("a", encoding="utf-8") as out:
        out.write(("\n" if torn else "") + json.dumps(record, sort_keys=True) + "\n")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m loadtest.history append HISTORY RECORD`: what scripts/delivery/loadtest_history.sh
    runs on the history branch (stdlib only: no virtualenv needed there)."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.history")
    parser.add_argument("command", choices=["append"])
    parser.add_argument("history", type=Path)
    parser.add_argument("record", type=Path)
    options = parser.parse_args(argv)
    record = json.loads(options.record.read_text(encoding="utf-8"))
    written = append(options.history, record)
    print(f"{options.history}: {'appended' if written else 'already holds'} run {record['id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

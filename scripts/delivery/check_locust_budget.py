#!/usr/bin/env python3
"""Fail a load test that went over budget, from Locust's ``--csv`` statistics.

    scripts/delivery/check_locust_budget.py reports/locust_stats.csv --max-failure-ratio 0.01 --max-p95-ms 500

Reads the ``Aggregated`` row (or the row of ``--name``, e.g. ``/grpc``) of ``<prefix>_stats.csv``:
failure ratio = Failure Count / Request Count, p95 = the ``95%`` column (milliseconds). Exits 1 when
either passes its budget or when no request was made, 2 when the file is not a Locust stats file.
Writes a Markdown summary to ``$GITHUB_STEP_SUMMARY`` when that is set.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    failures: int
    p95_ms: float

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 1.0


def read_stats(path: Path, name: str = "Aggregated") -> Result:
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") != name:
                continue
            try:
                p95 = row["95%"]
                return Result(
                    name=name,
                    requests=int(row["Request Count"]),
                    failures=int(row["Failure Count"]),
                    p95_ms=float(p95) if p95 not in ("", "N/A") else float("nan"),
                )
            except (KeyError, ValueError) as err:
                raise ValueError(f"{path}: not a Locust stats row: {err}") from err
    raise ValueError(f"{path}: no row named {name!r}")


def check(result: Result, max_failure_ratio: float, max_p95_ms: float) -> list[str]:
    """The budget violations; empty when the run is within budget."""
    problems = []
    if result.requests == 0:
        problems.append("no request was made")
    elif result.failure_ratio > max_failure_ratio:
        problems.append(f"failure ratio {result.failure_ratio:.4f} > budget {max_failure_ratio:.4f}")
    if result.requests and not result.p95_ms <= max_p95_ms:
        problems.append(f"p95 {result.p95_ms:g} ms > budget {max_p95_ms:g} ms")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stats", type=Path, help="Locust <prefix>_stats.csv")
    parser.add_argument("--max-failure-ratio", type=float, required=True, help="e.g. 0.01 for 1%%")
    parser.add_argument("--max-p95-ms", type=float, required=True, help="p95 latency budget, ms")
    parser.add_argument("--name", default="Aggregated", help="row to check (default: Aggregated)")
    args = parser.parse_args(argv)
    try:
        result = read_stats(args.stats, args.name)
    except (OSError, ValueError) as err:
        print(f"check_locust_budget: {err}", file=sys.stderr)
        return 2
    problems = check(result, args.max_failure_ratio, args.max_p95_ms)
    verdict = "over budget: " + "; ".join(problems) if problems else "within budget"
    line = (
        f"{result.name}: {result.requests} requests, {result.failures} failures "
        f"(ratio {result.failure_ratio:.4f}, budget {args.max_failure_ratio:g}), "
        f"p95 {result.p95_ms:g} ms (budget {args.max_p95_ms:g} ms): {verdict}"
    )
    print(line)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(f"### Load test budget\n\n{'FAIL' if problems else 'PASS'}: {line}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

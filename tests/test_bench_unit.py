"""The benchmark's pure logic: percentiles, the load generators' summaries, CPU per unit, the table."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from bench import load, run, stats
from bench.stats import (
    Row,
    cpu_per_unit,
    markdown_table,
    median,
    percentile,
    ratio,
    text_table,
    vegeta_summary,
    wrk_summary,
)
from votemon.dev.prometheus_text import Observed


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([5.0], 99) == 5.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # unsorted input


def test_percentile_of_nothing_and_bad_q() -> None:
    assert math.isnan(percentile([], 99))
    with pytest.raises(ValueError):
        percentile([1.0], 0)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_p99_shows_a_rare_stall() -> None:
    # 2% of requests stalled: the p99 must be a stalled one, not an interpolation below it
    values = [0.001] * 98 + [1.0] * 2
    assert percentile(values, 99) == 1.0
    assert percentile(values, 50) == 0.001


def test_vegeta_latency_is_of_the_accepted_only() -> None:
    # quick 503s must not make the accepted look fast; status 0 is a transport error
    results = [(202, 0.5), (503, 0.001), (503, 0.001), (0, 10.0), (202, 0.1)]
    summary = vegeta_summary(results, seconds=2.0)
    assert summary["statuses"] == {"202": 2, "503": 2, "0": 1}
    assert summary["ok"] == 2
    assert summary["throughput"] == 1.0
    assert summary["sent_rate"] == 2.5
    assert summary["latency"] == {"p50": 0.1, "p90": 0.5, "p99": 0.5, "p999": 0.5, "max": 0.5}


def test_wrk_summary_counts_only_answered_2xx() -> None:
    raw = {
        "requests": 1000,
        "duration_us": 2_000_000,
        "non_2xx": 90,
        "connect_errors": 1,
        "read_errors": 10,
        "write_errors": 0,
        "timeouts": 3,
        "p50_us": 1500,
        "p90_us": 4000,
        "p99_us": 9000,
        "max_us": 20000,
    }
    summary = wrk_summary(raw)
    assert summary["ok"] == 900
    assert summary["failed"] == 104
    assert summary["throughput"] == 450.0
    assert summary["latency"] == {"p50": 0.0015, "p90": 0.004, "p99": 0.009, "max": 0.02}


def test_cpu_per_unit_in_microseconds() -> None:
    before = {"front": 10.0, "consumer": 2.0}
    after = {"front": 10.5, "consumer": 2.25}
    assert cpu_per_unit(before, after, 10_000) == {"front": 50.0, "consumer": 25.0}
    assert all(math.isnan(v) for v in cpu_per_unit(before, after, 0).values())


def test_rows_verdicts() -> None:
    assert Row("r", 0.7, "", 0.6).verdict == "PASS"
    assert Row("r", 0.5, "", 0.6).verdict == "MISS"
    assert Row("p99", 40.0, "ms", 50, higher_is_better=False).verdict == "PASS"
    assert Row("p99", 60.0, "ms", 50, higher_is_better=False).verdict == "MISS"
    assert Row("n/a", math.nan, "ms", 50, higher_is_better=False).verdict == "MISS"
    assert Row("info", 1.0, "req/s").verdict == ""


def test_tables_show_every_row() -> None:
    rows = [
        Row("(1) ceiling", 1234.5, "req/s"),
        Row("(2) ÷ (1)", 0.5, "", 0.6, detail="paired"),
        Row("(2) p99", 42.0, "ms", 50, False),
    ]
    md = markdown_table(rows).splitlines()
    assert md[0].startswith("| measure |")
    assert md[2] == "| (1) ceiling | 1,234 req/s |  |  |  |"
    assert "| ≥ 0.60 | MISS | paired |" in md[3]
    assert "≤ 50.0 ms | PASS" in md[4]
    text = text_table(rows).splitlines()
    assert len(text) == 4
    assert "MISS" in text[2] and "PASS" in text[3]


def test_median_and_ratio_ignore_nan() -> None:
    assert median([3.0, math.nan, 1.0, 2.0]) == 2.0
    assert math.isnan(median([]))
    assert ratio(1.0, 4.0) == 0.25
    assert math.isnan(ratio(1.0, 0.0))
    assert math.isnan(ratio(math.nan, 1.0))


def test_histograms_since_a_scrape_before_the_run() -> None:
    before = {"front reply": Observed({0.001: 5.0, math.inf: 5.0}, 0.002)}
    after = {
        "front reply": Observed({0.001: 9.0, math.inf: 15.0}, 0.032),
        "front coalescer_wait": Observed({0.001: 2.0, math.inf: 2.0}, 0.001),  # first seen in the run
    }
    since = stats.histograms_since(after, before)
    assert since["front reply"].buckets == {0.001: 4.0, math.inf: 10.0}
    assert since["front reply"].total == pytest.approx(0.03)
    assert since["front coalescer_wait"] == after["front coalescer_wait"]


def test_breakdown_rows_from_buckets_with_their_share_of_the_whole() -> None:
    observed = {
        # 100 observations: 50 under 1 ms, 40 more under 2.5 ms, 10 more under 5 ms; mean 1.5 ms
        "front read_parse": Observed({0.001: 50.0, 0.0025: 90.0, 0.005: 100.0, math.inf: 100.0}, 0.15),
        "front request": Observed({0.005: 50.0, 0.01: 100.0, math.inf: 100.0}, 0.6),
    }
    parse, absent, whole = stats.breakdown(
        observed, ("front read_parse", "consumer dead_letters"), "front request"
    )
    assert parse.stage == "front read_parse"
    assert parse.count == 100
    assert parse.mean == pytest.approx(0.0015)
    assert parse.p50 == pytest.approx(0.001)  # histogram_quantile: the 50th of 100 at the 1 ms bound
    assert parse.p99 == pytest.approx(0.00475)  # 9/10 of the way through the (2.5, 5] ms bucket
    assert parse.share == pytest.approx(0.25)  # 1.5 ms of the request's 6 ms
    assert absent.count == 0 and math.isnan(absent.mean) and math.isnan(absent.p99)
    assert (whole.stage, whole.share) == ("front request", 1.0)


def test_collector_time_sums_each_process_generations() -> None:
    pauses = {
        "front gc_gen0": {"count": 900.0, "seconds": 0.45},
        "front gc_gen2": {"count": 2.0, "seconds": 0.12},
        "consumer gc_gen1": {"count": 30.0, "seconds": 0.03},
    }
    assert run.collector_time(pauses) == "front 902 in 570 ms, consumer 30 in 30 ms"


def test_stage_table_cells_in_milliseconds() -> None:
    rows = [
        stats.StageRow("front grpc_call", 1234.0, 0.0042, 0.003, 0.0215, 0.37),
        stats.StageRow("consumer dead_letters", 0.0, math.nan, math.nan, math.nan, math.nan),
    ]
    cells = stats.stage_cells(rows)
    assert cells == [
        ("front grpc_call", "1,234", "4.20 ms", "3.00 ms", "21.5 ms", "37%"),
        ("consumer dead_letters", "0", "n/a", "n/a", "n/a", "n/a"),
    ]
    text = stats.stage_text_table(rows).splitlines()
    assert text[0].split() == ["stage", "count", "mean", "p50", "p99", "share", "of", "total"]
    assert text[1].index("1,234") == text[0].index("count")
    md = stats.stage_markdown_table(rows).splitlines()
    assert md[1] == "|---|---:|---:|---:|---:|---:|"
    assert md[2] == "| front grpc_call | 1,234 | 4.20 ms | 3.00 ms | 21.5 ms | 37% |"


def test_only_the_bench_and_its_unit_tests_import_bench() -> None:
    """The tests, the load test and the service share tooling through votemon.dev, never through the
    bench (whose Redis databases and settings are its own)."""
    root = Path(__file__).parent.parent
    importers = []
    for path in [*root.glob("tests/**/*.py"), *root.glob("loadtest/**/*.py"), *root.glob("src/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(name == "bench" or name.startswith("bench.") for name in names):
                importers.append(str(path.relative_to(root)))
    assert sorted(set(importers)) == ["tests/test_bench_unit.py"]


def test_a_missing_load_generator_is_named_before_the_bench_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(load, "ROOT", tmp_path)  # no .local/bin/wrk there
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        run.main(["--quick"])
    assert exited.value.code == "python -m bench: wrk is not installed: run `make bench`, or " + (
        "scripts/install-tools.sh --bench once"
    )


def test_the_search_steps_up_while_held_down_while_not_then_halves_the_gap() -> None:
    assert run.next_probe(10_000, None) == pytest.approx(12_000)
    assert run.next_probe(None, 12_000) == pytest.approx(10_000)
    assert run.next_probe(10_000, 12_000) == 11_000
    with pytest.raises(ValueError, match="T4"):
        run.next_probe(None, None)

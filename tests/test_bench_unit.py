"""The benchmark's pure logic: percentiles, the load generators' summaries, CPU per unit, the table."""

from __future__ import annotations

import math

import pytest

from bench.stats import (
    Row,
    bucket_delta,
    cpu_per_unit,
    histogram_quantile,
    markdown_table,
    median,
    metric,
    parse_histogram,
    percentile,
    ratio,
    text_table,
    vegeta_summary,
    wrk_summary,
)


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


def test_metric_reads_an_unlabelled_sample() -> None:
    text = "# HELP votes_shed_total x\nvotes_shed_total 1200.0\nvotes_shed_total_created 1.7e9\n"
    assert metric(text, "votes_shed_total") == 1200.0
    assert metric(text, "absent_total") == 0.0


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = {0.1: 50.0, 0.25: 90.0, 0.5: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.175)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.475)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.05)


def test_histogram_quantile_in_the_inf_bucket_and_empty() -> None:
    assert histogram_quantile(0.99, {1.0: 10.0, math.inf: 100.0}) == 1.0
    assert math.isnan(histogram_quantile(0.99, {1.0: 0.0, math.inf: 0.0}))
    assert math.isnan(histogram_quantile(0.99, {}))


def test_parse_histogram_and_delta() -> None:
    text = "\n".join(
        [
            "# HELP votes_freshness_seconds From a vote's acceptance to its count in Redis",
            'votes_freshness_seconds_bucket{le="0.1"} 3.0',
            'votes_freshness_seconds_bucket{le="+Inf"} 4.0',
            "votes_freshness_seconds_count 4.0",
            'other_bucket{le="0.1"} 99.0',
        ]
    )
    before = parse_histogram(text, "votes_freshness_seconds")
    assert before == {0.1: 3.0, math.inf: 4.0}
    after = {0.1: 10.0, math.inf: 12.0}
    assert bucket_delta(after, before) == {0.1: 7.0, math.inf: 8.0}


def test_parse_histogram_sums_label_sets() -> None:
    text = 'h_bucket{step="a",le="1.0"} 2.0\nh_bucket{le="1.0",step="b"} 3.0\n'
    assert parse_histogram(text, "h") == {1.0: 5.0}


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

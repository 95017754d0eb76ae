"""The /metrics reader the bench and the load test share (votemon.dev.prometheus_text): samples,
histogram buckets and their quantile, on Prometheus' own text format."""

from __future__ import annotations

import math

import pytest

from votemon.dev.prometheus_text import bucket_delta, histogram_quantile, metric, parse_histogram


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

"""The /metrics reader the bench and the load test share (votemon.dev.prometheus_text): samples,
histogram buckets and their quantile, on Prometheus' own text format."""

from __future__ import annotations

import math

import pytest

from votemon.dev.prometheus_text import (
    Observed,
    bucket_delta,
    histogram_quantile,
    metric,
    parse_histogram,
    parse_histograms,
)


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


STAGES = """# HELP votemon_front_stage_seconds x
votemon_front_stage_seconds_bucket{le="0.001",stage="read_parse"} 2.0
votemon_front_stage_seconds_bucket{le="+Inf",stage="read_parse"} 3.0
votemon_front_stage_seconds_count{stage="read_parse"} 3.0
votemon_front_stage_seconds_sum{stage="read_parse"} 0.006
votemon_front_stage_seconds_bucket{le="0.001",stage="reply"} 1.0
votemon_front_stage_seconds_bucket{le="+Inf",stage="reply"} 1.0
votemon_front_stage_seconds_sum{stage="reply"} 0.0005
votes_http_request_seconds_bucket{le="0.001"} 4.0
votes_http_request_seconds_bucket{le="+Inf"} 4.0
votes_http_request_seconds_sum 0.002
"""


def test_parse_histograms_by_label_with_their_sums() -> None:
    stages = parse_histograms(STAGES, "votemon_front_stage_seconds", "stage")
    assert stages == {
        "read_parse": Observed({0.001: 2.0, math.inf: 3.0}, 0.006),
        "reply": Observed({0.001: 1.0, math.inf: 1.0}, 0.0005),
    }
    assert stages["read_parse"].count == 3.0
    assert stages["read_parse"].mean == pytest.approx(0.002)
    unlabelled = parse_histograms(STAGES, "votes_http_request_seconds")
    assert unlabelled == {"": Observed({0.001: 4.0, math.inf: 4.0}, 0.002)}


def test_observed_since_an_earlier_scrape() -> None:
    before = Observed({0.001: 2.0, math.inf: 3.0}, 0.006)
    after = Observed({0.001: 12.0, math.inf: 23.0}, 0.106)
    delta = after.since(before)
    assert delta.buckets == {0.001: 10.0, math.inf: 20.0}
    assert delta.count == 20.0
    assert delta.mean == pytest.approx(0.005)
    assert after.since(None) == after  # a label set that appeared during the run
    assert math.isnan(Observed({math.inf: 0.0}, 0.0).mean)

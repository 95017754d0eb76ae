"""The benchmark's pure logic: percentiles, the open-loop schedule, histogram quantiles, the table."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest

from bench.loadgen import HttpConnection, Tally
from bench.stats import (
    Row,
    bucket_delta,
    histogram_quantile,
    markdown_table,
    median,
    open_loop_schedule,
    parse_histogram,
    percentile,
    ratio,
    text_table,
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


def test_open_loop_schedule_is_constant_rate() -> None:
    times = open_loop_schedule(rate=100, duration=2, start=10.0)
    assert len(times) == 200
    assert times[0] == 10.0
    assert times[1] - times[0] == pytest.approx(0.01)
    assert times[-1] == pytest.approx(10.0 + 199 / 100)
    assert all(b > a for a, b in itertools.pairwise(times))


def test_open_loop_schedule_edges() -> None:
    assert open_loop_schedule(0, 5) == []
    assert open_loop_schedule(10, 0) == []
    assert len(open_loop_schedule(3, 1)) == 3
    assert len(open_loop_schedule(0.5, 3)) == 1


def test_open_loop_latency_counts_from_the_due_time() -> None:
    # a request due at 1.0 that a stalled server answered at 1.5 took 0.5 s, whenever it left
    tally = Tally(window_start=1.0, window_end=2.0)
    tally.record(1.0, 0.5, 202)
    tally.record(0.5, 0.001, 202)  # warm-up: outside the window
    tally.record(1.2, 0.3, 503)
    tally.record(1.3, 10.0, None)
    result = tally.result()
    assert tally.ok == 1 and tally.errors == 2
    assert result["statuses"] == {"202": 1, "503": 1, "error": 1}
    assert result["throughput"] == 1.0
    assert tally.latencies == [0.5]


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


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


async def test_http_connection_frames_responses_by_content_length() -> None:
    connection = HttpConnection()
    transport = FakeTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    pending = asyncio.ensure_future(connection.request(b"POST / HTTP/1.1\r\n\r\n"))
    await asyncio.sleep(0)
    connection.data_received(b"HTTP/1.1 202 \r\nContent-Type: application/json\r\nContent-")
    assert not pending.done()
    connection.data_received(b"Length: 4\r\n\r\n{}")
    assert not pending.done()
    connection.data_received(b"{}")
    assert await pending == 202
    assert transport.written == [b"POST / HTTP/1.1\r\n\r\n"]


async def test_http_connection_keeps_the_next_response_and_fails_on_close() -> None:
    connection = HttpConnection()
    connection.connection_made(FakeTransport())  # type: ignore[arg-type]
    first = asyncio.ensure_future(connection.request(b"a"))
    await asyncio.sleep(0)
    connection.data_received(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    assert await first == 200
    second = asyncio.ensure_future(connection.request(b"b"))
    await asyncio.sleep(0)
    connection.connection_lost(None)
    with pytest.raises(ConnectionError):
        await second
    assert connection.closed

"""The load test's pure logic on a recorded history (tests/data/loadtest-history.jsonl: four runs of
`make loadtest LOADTEST_ARGS="-u 20 -r 20 -t 15s"` on the local stack, one after the other; their git
sha cut to 12 digits, which detect-secrets does not take for a key): the
comparison with the median of earlier runs at the same settings, the count check, freshness from the
consumer's histogram, the history file and the report."""

from __future__ import annotations

import collections
import copy
import itertools
import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from loadtest import history, report, run
from loadtest.counts import (
    TOTAL,
    Scrape,
    api_counts,
    expected_counts,
    freshness,
    mismatches,
    parse_scrape,
    wait_drained,
)

RECORDED = Path(__file__).parent / "data" / "loadtest-history.jsonl"
BANDS = {"Bohemia Suburbana", "Alux Nahual"}


@pytest.fixture
def recorded() -> list[dict[str, Any]]:
    runs = history.read(RECORDED)
    assert len(runs) >= 3, "the recorded history holds several runs at one setting"
    return runs


def planted(runs: list[dict[str, Any]], **figures: float) -> dict[str, Any]:
    """A copy of the last recorded run with some figures changed: the run under test."""
    run_ = copy.deepcopy(runs[-1])
    run_["figures"].update(figures)
    return run_


def regressed(runs: list[dict[str, Any]], current: dict[str, Any]) -> list[str]:
    comparisons = history.compare(current["figures"], current["settings"], runs)
    return [c.measure.name for c in comparisons if c.regressed]


def test_a_clean_history_is_not_flagged(recorded: list[dict[str, Any]]) -> None:
    for i in range(1, len(recorded)):
        assert regressed(recorded[:i], recorded[i]) == [], recorded[i]["figures"]


def test_a_planted_regression_is_flagged(recorded: list[dict[str, Any]]) -> None:
    baseline = statistics.median(history.figure(r, "p95_ms") for r in recorded[-history.WINDOW :])
    slow = planted(recorded, p95_ms=baseline * 2 + 10)
    assert regressed(recorded, slow) == ["p95_ms"]
    lines = history.regressions(history.compare(slow["figures"], slow["settings"], recorded))
    assert len(lines) == 1
    assert lines[0].startswith("latency p95") and "median" in lines[0] and "+" in lines[0]
    fewer = statistics.median(history.figure(r, "requests_per_second") for r in recorded[-history.WINDOW :])
    assert regressed(recorded, planted(recorded, requests_per_second=fewer * 0.5)) == ["requests_per_second"]
    stale = planted(recorded, freshness_p99_s=5.0)
    assert regressed(recorded, stale) == ["freshness_p99_s"]


def test_better_figures_are_not_a_regression(recorded: list[dict[str, Any]]) -> None:
    assert (
        regressed(recorded, planted(recorded, p95_ms=1, requests_per_second=1e6, freshness_p99_s=0.001)) == []
    )


def test_runs_at_other_settings_are_not_compared(recorded: list[dict[str, Any]]) -> None:
    other = planted(recorded, p95_ms=10_000)
    other["settings"] = {**other["settings"], "users": other["settings"]["users"] * 5}
    comparisons = history.compare(other["figures"], other["settings"], recorded)
    assert [c.runs for c in comparisons] == [0, 0, 0]
    assert not any(c.regressed for c in comparisons)


def test_a_small_absolute_change_is_noise_whatever_its_ratio() -> None:
    runs = [{"settings": {"users": 1}, "figures": {"p95_ms": 2.0}} for _ in range(3)]
    comparisons = history.compare({"p95_ms": 4.0}, {"users": 1}, runs)
    p95 = next(c for c in comparisons if c.measure.name == "p95_ms")
    assert p95.change == pytest.approx(1.0)
    assert not p95.regressed  # +100 %, but 2 ms: below the 5 ms slack


def test_the_baseline_is_the_median_of_the_last_window_runs() -> None:
    old = [{"settings": {}, "figures": {"p95_ms": 1000.0}}] * 10
    recent = [{"settings": {}, "figures": {"p95_ms": v}} for v in (50.0, 60.0, 70.0, 80.0, 90.0)]
    (p95,) = (c for c in history.compare({"p95_ms": 95.0}, {}, old + recent) if c.measure.name == "p95_ms")
    assert (p95.baseline, p95.runs) == (70.0, history.WINDOW)
    assert p95.regressed  # +36 % and 25 ms worse than the median of the last five


def test_history_file_appends_once_per_run_and_skips_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "h" / "history.jsonl"
    assert history.read(path) == []
    assert history.append(path, {"id": "a", "figures": {}})
    assert not history.append(path, {"id": "a", "figures": {}})  # a retried push replays the append
    with path.open("a") as out:
        out.write('{"id": "torn", "fig')  # a write cut short
    assert history.append(path, {"id": "b"})
    assert [r["id"] for r in history.read(path)] == ["a", "b"]


def test_counted_must_equal_accepted_per_album_band_and_total() -> None:
    accepted = {
        "Alux Nahual / El Viaje": 3,
        "Alux Nahual / Rock chapin": 2,
        "Bohemia Suburbana / Mis palabras": 4,
    }
    expected = expected_counts(accepted)
    assert (expected[TOTAL], expected["Alux Nahual"], expected["Bohemia Suburbana"]) == (9, 5, 4)
    totals = {
        "total": 1_000_009,  # other bands' votes: not the load's
        "bands": [{"band": "Alux Nahual", "votes": 5}, {"band": "Bohemia Suburbana", "votes": 4}],
        "albums": [
            {"band": "Alux Nahual", "album": "El Viaje", "votes": 3},
            {"band": "Alux Nahual", "album": "Rock chapin", "votes": 2},
            {"band": "Bohemia Suburbana", "album": "Mis palabras", "votes": 4},
            {"band": "Someone Else", "album": "X", "votes": 1_000_000},
        ],
    }
    counted = api_counts(totals, BANDS)
    assert mismatches(expected, counted) == []
    doubled, lost = counted.copy(), counted.copy()
    doubled.update({"Alux Nahual / El Viaje": 1, "Alux Nahual": 1, TOTAL: 1})
    lost.subtract({"Bohemia Suburbana / Mis palabras": 1, "Bohemia Suburbana": 1, TOTAL: 1})
    assert mismatches(expected, doubled) == [
        "total: accepted 9, counted 10",
        "Alux Nahual: accepted 5, counted 6",
        "Alux Nahual / El Viaje: accepted 3, counted 4",
    ]
    assert mismatches(expected, lost)[0] == "total: accepted 9, counted 8"


def test_the_wait_ends_once_the_counts_reached_and_held() -> None:
    expected = collections.Counter({TOTAL: 3})
    reads = iter([0, 1, 3, 3, 3])
    counted, drained = wait_drained(lambda: collections.Counter({TOTAL: next(reads)}), expected, 5, 0)
    assert (counted[TOTAL], drained) == (3, True)
    assert next(reads) == 3  # two equal reads at 3 were enough


def test_the_wait_is_bounded_and_reports_what_was_counted() -> None:
    expected = collections.Counter({TOTAL: 3})
    counted, drained = wait_drained(lambda: collections.Counter({TOTAL: 2}), expected, 0.3, 0.05)
    assert (counted[TOTAL], drained) == (2, False)
    assert mismatches(expected, counted) == ["total: accepted 3, counted 2"]


def test_a_late_double_count_is_seen_because_the_wait_needs_two_equal_reads() -> None:
    reads = itertools.chain([3, 4], itertools.repeat(4))
    counted, drained = wait_drained(
        lambda: collections.Counter({TOTAL: next(reads)}), collections.Counter({TOTAL: 3}), 5, 0
    )
    assert (counted[TOTAL], drained) == (4, True)


def metrics_text(buckets: dict[str, int], logged: int) -> str:
    lines = [f'votes_freshness_seconds_bucket{{le="{le}"}} {n}.0' for le, n in buckets.items()]
    return "\n".join([f"votes_logged_total {logged}.0", *lines])


def test_freshness_is_the_histogram_delta_over_the_run_summed_over_replicas() -> None:
    before = parse_scrape([metrics_text({"0.01": 100, "0.05": 100, "0.1": 100, "+Inf": 100}, 100)])
    after = parse_scrape(
        [
            metrics_text({"0.01": 100, "0.05": 150, "0.1": 200, "+Inf": 200}, 200),  # this run: 50 + 50
            metrics_text({"0.01": 0, "0.05": 0, "0.1": 100, "+Inf": 100}, 100),  # a second replica: 100
        ]
    )
    assert after.logged - before.logged == 200
    fresh = freshness(before, after)
    assert fresh["freshness_p50_s"] == pytest.approx(0.05 + 0.05 * (100 - 50) / 150)
    assert 0.05 < fresh["freshness_p99_s"] <= 0.1
    assert (
        freshness(Scrape(), Scrape())["freshness_p99_s"] != freshness(Scrape(), Scrape())["freshness_p99_s"]
    )


def test_the_report_shows_every_figure_the_budgets_and_the_verdicts(recorded: list[dict[str, Any]]) -> None:
    record = recorded[-1]
    text = report.terminal(record)
    for label in ("requests/s", "latency p50", "latency p95", "latency p99", "failures", "accepted (202)"):
        assert label in text
    assert "counted (results API)" in text and "freshness p50 / p99" in text
    assert f"≤ {record['budgets']['max_p95_ms']:g} ms" in text
    assert text.startswith("load test PASS")
    markdown = report.markdown(record)
    assert "| latency p95 |" in markdown and "| counted (results API) |" in markdown


def test_a_regression_and_a_mismatch_show_in_the_headline_and_the_trend(
    recorded: list[dict[str, Any]],
) -> None:
    bad = planted(recorded)
    bad["regressed"], bad["regressions"] = ["p95_ms"], ["latency p95 99 ms vs median 20 ms: +395%"]
    bad["verdicts"] = {**bad["verdicts"], "counted_equals_accepted": False}
    assert report.headline(bad).startswith("load test FAIL (counted = accepted)")
    assert "REGRESSION: latency p95" in report.headline(bad)
    page = report.html_page(bad, [*recorded, bad], "locust.html")
    assert page.count("<svg") == len(history.MEASURES)
    assert page.count('fill="#d22"') == 1  # the one regressed run, on the p95 chart
    assert '<iframe src="locust.html"' in page
    assert "<script" not in page and "https://" not in page.replace("http://www.w3.org/2000/svg", "")


def test_a_run_record_from_recorded_locust_totals(recorded: list[dict[str, Any]], tmp_path: Path) -> None:
    """build_record turns Locust's totals and the counts into the record the history keeps; a
    planted slow run is marked regressed, counted ≠ accepted fails the count verdict."""
    settings = recorded[-1]["settings"]
    load = ["-u", str(settings["users"]), "-r", str(settings["spawn_rate"]), "-t", settings["duration"]]
    options = run.parser().parse_args(["--host", settings["target"], *load, "--sha", "abc"])
    accepted = {"Alux Nahual / El Viaje": 6, "Bohemia Suburbana / Mis palabras": 4}
    locust = {
        "sent": 10, "failed": 0, "requests_per_second": 1.0, "p50_ms": 5, "p95_ms": 9_000, "p99_ms": 9_500,
        "accepted": accepted, "budget_problems": ["p95 9000 ms > budget 500 ms"],
    }  # fmt: skip
    expected = expected_counts(accepted)
    counted = expected.copy()
    counted.update({TOTAL: 1, "Alux Nahual": 1, "Alux Nahual / El Viaje": 1})
    record = run.build_record(
        options=options, locust=locust, expected=expected, counted=counted, drained=True, logged=10,
        fresh={"freshness_p50_s": 0.01, "freshness_p99_s": None}, earlier=recorded, image="sha-abc",
    )  # fmt: skip
    assert record["settings"] == recorded[-1]["settings"]
    assert "p95_ms" in record["regressed"] and "requests_per_second" in record["regressed"]
    assert record["verdicts"]["budget"] == "fail"
    assert not record["verdicts"]["counted_equals_accepted"]
    assert record["verdicts"]["mismatches"][0] == "total: accepted 10, counted 11"
    assert json.loads(json.dumps(record)) == record  # JSON as it is, no NaN
    assert "FAIL" in report.terminal(record)
    assert record["image"] == "sha-abc" and record["sha"] == "abc"
    page = report.html_page(record, [record], "locust.html")
    for shown in (report.terminal(record), report.markdown(record), page):
        assert "deployed image" in shown and "sha-abc" in shown

"""The results API: totals from Redis, the latest logs from MongoDB, bounded parameters."""

from __future__ import annotations

import subprocess
import sys

import pytest

from votemon.dev.pipeline import Pipeline, unique_band, vote
from votemon.store import tally


def test_totals_report_the_top_bands_and_albums_and_the_rest_as_other(pipeline: Pipeline) -> None:
    """Whatever earlier tests counted (many names, huge counts), the answer is the top N of what
    Redis holds, in order, each count exact, and the rest summed as "other"; the test's own names
    are listed unless N names have at least as many votes."""
    band = unique_band("Totals")
    assert pipeline.post([vote(band, "A"), vote(band, "A"), vote(band, "B")]).status_code == 202
    assert pipeline.wait_band_count(band) == 3
    totals = pipeline.http.get(f"{pipeline.results}/api/totals").json()
    assert set(totals) == {"total", "bands", "albums", "other"}
    assert totals["total"] == int(pipeline.redis.get(tally.TOTAL) or 0)
    top = pipeline.settings.totals_top
    for kind, counts, key in (
        ("bands", pipeline.redis.hgetall(tally.BY_BAND), lambda row: row["band"]),
        ("albums", pipeline.redis.hgetall(tally.BY_ALBUM), lambda row: f"{row['band']} / {row['album']}"),
    ):
        rows = totals[kind]
        assert len(rows) == min(top, len(counts))
        assert all(row["votes"] == int(counts[key(row)]) for row in rows)
        votes = [row["votes"] for row in rows]
        assert votes == sorted(votes, reverse=True)
        unlisted = set(counts) - {key(row) for row in rows}
        assert all(int(counts[name]) <= votes[-1] for name in unlisted)
        assert totals["other"][kind] == totals["total"] - sum(votes)
    expected = {(band, "", 3), (band, "A", 2), (band, "B", 1)}
    for name, album, count in expected:
        rows = totals["albums"] if album else totals["bands"]
        row = {"band": name, "album": album, "votes": count} if album else {"band": name, "votes": count}
        assert row in rows or (len(rows) == top and rows[-1]["votes"] >= count)


def test_logs_are_the_latest_newest_first(pipeline: Pipeline) -> None:
    band = unique_band("Logs")
    ids = [pipeline.post(vote(band, f"Album {i}")).json()["ids"][0] for i in range(25)]
    assert pipeline.wait_band_count(band) == 25
    logs = pipeline.http.get(f"{pipeline.results}/api/logs").json()["logs"]
    assert [entry["id"] for entry in logs] == ids[::-1][:20]
    assert set(logs[0]) == {"id", "name", "album", "year", "rank", "accepted_at"}
    assert logs[0]["album"] == "Album 24"
    five = pipeline.http.get(f"{pipeline.results}/api/logs", params={"limit": 5}).json()["logs"]
    assert [entry["id"] for entry in five] == ids[::-1][:5]


@pytest.mark.parametrize(
    ("path", "value"),
    [("logs", "0"), ("logs", "101"), ("logs", "-1"), ("logs", "ten"), ("rate", "0"), ("rate", "3601")],
)
def test_parameters_out_of_bounds_are_refused(pipeline: Pipeline, path: str, value: str) -> None:
    name = "limit" if path == "logs" else "seconds"
    reply = pipeline.http.get(f"{pipeline.results}/api/{path}", params={name: value})
    assert reply.status_code == 400
    assert reply.json()["field"] == name


def test_rate_lists_every_second_of_the_window(pipeline: Pipeline) -> None:
    band = unique_band("Rate")
    assert pipeline.post([vote(band)] * 4).status_code == 202
    assert pipeline.wait_band_count(band) == 4
    rate = pipeline.http.get(f"{pipeline.results}/api/rate", params={"seconds": 30}).json()["rate"]
    assert len(rate) == 30
    seconds = [point["second"] for point in rate]
    assert seconds == list(range(seconds[0], seconds[0] + 30))
    assert sum(point["votes"] for point in rate) >= 4


def test_the_results_process_loads_no_grpc_and_exports_only_its_own_metrics(pipeline: Pipeline) -> None:
    """The Cloud Run image runs `votemon results`: it must not load the front's gRPC stack nor
    export the front's metrics. The import is what `votemon results` does, in a fresh interpreter."""
    probe = (
        "import importlib, sys; from votemon.__main__ import COMMANDS; "
        "importlib.import_module(COMMANDS['results']); "
        "print(sorted({name.split('.')[0] for name in sys.modules}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert "'grpc'" not in loaded
    assert "'grpc_health'" not in loaded
    assert "'votemon'" in loaded  # the probe did import the package
    metrics = pipeline.http.get(f"{pipeline.results}/metrics").text
    assert "process_resident_memory_bytes" in metrics
    for front_metric in ("votes_http_requests_total", "votes_in_flight", "votes_shed_requests_total"):
        assert front_metric not in metrics

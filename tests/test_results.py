"""The results API: totals from Redis, the latest logs from MongoDB, bounded parameters."""

from __future__ import annotations

import subprocess
import sys

import pytest

from votemon.dev.pipeline import Pipeline, unique_band, vote


def test_totals_report_bands_and_albums(pipeline: Pipeline) -> None:
    band = unique_band("Totals")
    assert pipeline.post([vote(band, "A"), vote(band, "A"), vote(band, "B")]).status_code == 202
    assert pipeline.wait_band_count(band) == 3
    totals = pipeline.http.get(f"{pipeline.results}/api/totals").json()
    assert set(totals) == {"total", "bands", "albums"}
    assert totals["total"] == int(pipeline.redis.get("votes:total") or 0)
    assert {"band": band, "votes": 3} in totals["bands"]
    assert {"band": band, "album": "A", "votes": 2} in totals["albums"]
    assert {"band": band, "album": "B", "votes": 1} in totals["albums"]
    votes = [row["votes"] for row in totals["bands"]]
    assert votes == sorted(votes, reverse=True)


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

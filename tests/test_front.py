"""The HTTP front refuses bad input with a JSON error naming the field, and sends nothing to Kafka."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.support import service_metric
from votemon.dev.eventually import eventually
from votemon.dev.pipeline import Pipeline, unique_band, vote
from votemon.dev.processes import Service, free_port

BAND = unique_band("Refused")
GOOD = vote(BAND)

# (body, expected status, expected (index, field) pairs or None to skip that check)
JSON_CASES: list[tuple[str, Any, int, set[tuple[int | None, str | None]] | None]] = [
    ("empty name", {**GOOD, "name": "   "}, 400, {(None, "name")}),
    ("long album", {**GOOD, "album": "x" * 101}, 400, {(None, "album")}),
    ("name not a string", {**GOOD, "name": 5}, 400, {(None, "name")}),
    ("control character", {**GOOD, "name": "a\x00b"}, 400, {(None, "name")}),
    ("year too old", {**GOOD, "year": 1899}, 400, {(None, "year")}),
    ("year fraction", {**GOOD, "year": "1997.5"}, 400, {(None, "year")}),
    ("year boolean", {**GOOD, "year": True}, 400, {(None, "year")}),
    ("rank above 10", {**GOOD, "rank": "10.01"}, 400, {(None, "rank")}),
    ("rank 3 decimals", {**GOOD, "rank": 9.555}, 400, {(None, "rank")}),
    ("rank not a number", {**GOOD, "rank": "nine"}, 400, {(None, "rank")}),
    ("rank negative", {**GOOD, "rank": -1}, 400, {(None, "rank")}),
    ("unknown field", {**GOOD, "votes": 3}, 400, {(None, "votes")}),
    ("missing fields", {"name": BAND}, 400, {(None, "album"), (None, "year"), (None, "rank")}),
    ("bad id", {**GOOD, "id": "no spaces allowed"}, 400, {(None, "id")}),
    ("scalar body", 42, 400, {(None, None)}),
    ("empty batch", [], 400, {(None, None)}),
    ("batch over 1000", [GOOD] * 1001, 400, {(None, None)}),
    ("one bad vote in a batch", [GOOD, {**GOOD, "year": 3000}, GOOD], 400, {(1, "year")}),
    ("non-object in a batch", [GOOD, "vote"], 400, {(1, None)}),
]


@pytest.mark.parametrize(
    ("body", "status", "fields"), [c[1:] for c in JSON_CASES], ids=[c[0] for c in JSON_CASES]
)
def test_invalid_votes_are_refused_naming_each_field(
    pipeline: Pipeline, body: Any, status: int, fields: set[tuple[int | None, str | None]]
) -> None:
    produced = pipeline.produced()
    reply = pipeline.post(body)
    assert reply.status_code == status
    error = reply.json()
    assert error["error"] == "invalid_votes"
    assert {(e["index"], e["field"]) for e in error["errors"]} == fields
    assert all(e["message"] for e in error["errors"])
    assert pipeline.produced() == produced
    assert pipeline.band_count(BAND) == 0


RAW_CASES = [
    ("malformed JSON", b'{"name": "x",', "application/json", 400, "malformed_json"),
    ("NaN", b'{"name":"a","album":"b","year":1997,"rank":NaN}', "application/json", 400, "malformed_json"),
    (
        "not UTF-8",
        b'{"name":"\xff\xfe","album":"b","year":1997,"rank":1}',
        "application/json",
        400,
        "malformed_json",
    ),
    ("deeply nested", b"[" * 5000 + b"]" * 5000, "application/json", 400, "malformed_json"),
    ("wrong content type", b'{"name":"a"}', "text/plain", 415, "unsupported_media_type"),
    ("form body", b"name=a", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("body over 1 MiB", b"[" + b" " * (1024 * 1024) + b"]", "application/json", 413, "body_too_large"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"), [c[1:] for c in RAW_CASES], ids=[c[0] for c in RAW_CASES]
)
def test_unreadable_bodies_are_refused(
    pipeline: Pipeline, body: bytes, content_type: str, status: int, error: str
) -> None:
    produced = pipeline.produced()
    reply = httpx.post(
        f"{pipeline.front}/grpc", content=body, headers={"content-type": content_type}, timeout=10
    )
    assert reply.status_code == status
    assert reply.json()["error"] == error
    assert reply.json()["field"] == "body"
    assert pipeline.produced() == produced


def test_a_valid_vote_answers_202_with_its_id(pipeline: Pipeline) -> None:
    reply = pipeline.post(vote(unique_band(), year=" 2001 ", rank=" 7.25 "))
    assert reply.status_code == 202
    body = reply.json()
    assert body["accepted"] == 1
    assert len(body["ids"]) == 1


def test_probes_and_metrics(pipeline: Pipeline) -> None:
    health = pipeline.http.get(f"{pipeline.front}/healthz")
    assert health.json() == {"status": "ok", "version": pipeline.settings.votemon_version}
    assert pipeline.http.get(f"{pipeline.front}/readyz").json() == {"status": "ready"}
    metrics = pipeline.http.get(f"{pipeline.front}/metrics").text
    assert "votes_http_requests_total" in metrics
    assert "votes_counted_total" not in metrics  # each process exports its own service's metrics only


def test_unknown_paths_answer_json(pipeline: Pipeline) -> None:
    reply = pipeline.http.get(f"{pipeline.front}/nope")
    assert reply.status_code == 404
    assert reply.json()["error"] == "not_found"


def test_sigterm_under_load_fails_no_request_on_a_kept_connection(pipeline: Pipeline) -> None:
    """What a load balancer sees on a rollout: SIGTERM turns /readyz to 503 while the front keeps
    serving on the connection the balancer holds, until the balancer has stopped sending."""
    settings = pipeline.settings.model_copy(
        update={"front_bind": f"127.0.0.1:{free_port()}", "front_drain_seconds": 5.0}
    )
    front = Service("front", settings).start().wait_ready()
    assert front.process is not None
    band = unique_band("Drain")
    statuses: list[int] = []
    connections: set[int] = set()

    def post(client: httpx.Client) -> None:
        response = client.post(f"{front.base_url}/grpc", json=vote(band))
        statuses.append(response.status_code)
        connections.add(id(response.extensions["network_stream"]))

    with httpx.Client(timeout=10) as client:
        for _ in range(20):
            post(client)
        front.process.send_signal(signal.SIGTERM)
        # the balancer keeps sending until its health check sees the endpoint fail...
        while client.get(f"{front.base_url}/readyz").status_code == 200:
            post(client)
        # ...and for as long again as its check interval, here a burst of requests
        for _ in range(50):
            post(client)
    assert front.process.wait(timeout=30) == 0
    assert set(statuses) == {202}, statuses
    assert len(connections) == 1, "the client reconnected: the front closed its kept connection"
    assert pipeline.wait_band_count(band) == len(statuses)


def test_overload_is_shed_with_503_before_parsing_and_counted_exactly_after_retry(pipeline: Pipeline) -> None:
    """With its in-flight votes at the limit, the front answers more votes 503 + Retry-After at once,
    without reading the body (a malformed one gets 503 too, not 400), instead of queueing them; a
    batch that does not fit under the limit is refused whole. Sent again, every vote counts once.
    The vote service is held (SIGSTOP) so that the admitted votes stay in flight: no timing."""
    ports = {name: f"127.0.0.1:{free_port()}" for name in ("front_bind", "grpc_bind", "grpc_metrics_bind")}
    settings = pipeline.settings.model_copy(
        update={
            **ports,
            "grpc_target": ports["grpc_bind"],
            "front_max_inflight_votes": 20,
            "grpc_deadline_seconds": 60.0,
        }
    )
    server = Service("grpc-server", settings).start().wait_ready()
    front = Service("front", settings).start().wait_ready()
    assert server.process is not None
    band = unique_band("Shed")
    held = [vote(band, id=f"held-{band[-10:]}-{i}") for i in range(15)]
    fits = [vote(band, id=f"fits-{band[-10:]}-{i}") for i in range(5)]
    too_big, single = [vote(band) for _ in range(10)], vote(band)
    url = f"{front.base_url}/grpc"

    def post(body: object) -> httpx.Response:
        return httpx.post(url, json=body, headers=pipeline.integrator_headers, timeout=60)

    try:
        server.process.send_signal(signal.SIGSTOP)
        with ThreadPoolExecutor(2) as pool:
            in_flight = [pool.submit(post, held)]
            eventually(
                lambda: service_metric(front, "votes_in_flight") == 15, "15 votes in flight", within=30
            )
            shed = [post(too_big)]  # 15 + 10 > 20: refused whole, after parsing
            in_flight.append(pool.submit(post, fits))
            eventually(
                lambda: service_metric(front, "votes_in_flight") == 20, "20 votes in flight", within=30
            )
            # at the limit: refused before the body is read
            shed += [
                post(single),
                httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}),
            ]
            server.process.send_signal(signal.SIGCONT)
            accepted = [future.result() for future in in_flight]
        assert [reply.status_code for reply in accepted] == [202, 202]
        assert [reply.json()["ids"] for reply in accepted] == [
            [each["id"] for each in held],
            [each["id"] for each in fits],
        ]
        assert [reply.status_code for reply in shed] == [503, 503, 503]
        for reply in shed:
            assert reply.headers["Retry-After"] == str(settings.retry_after_seconds)
            assert reply.json()["error"] == "overloaded"
            assert "ids" not in reply.json()  # nothing was sent: the same body again is safe
        assert service_metric(front, "votes_shed_requests_total") == 3
        assert service_metric(front, "votes_in_flight") == 0

        assert [post(body).status_code for body in (too_big, single)] == [202, 202]
        assert pipeline.wait_band_count(band) == 15 + 5 + 10 + 1
    finally:
        server.process.send_signal(signal.SIGCONT)
        exits = [front.stop(), server.stop()]
    assert exits == [0, 0]

"""What the public front lets anyone do (issue 26), on the running pipeline: only the catalogue's
names are counted, an anonymous request carries few votes, a flood of random names leaves Redis and
/api/totals within their bounds, and a client sending big batches at full speed is shed before a
well-behaved one. Every test holds whatever earlier tests left in the shared Redis: it compares
deltas and its own unique names, never global state."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import httpx
import orjson
import pytest

from tests.support import service_metric
from votemon.dev.pipeline import Pipeline, unique_band, vote
from votemon.rpc.votes.v1 import votes_pb2, votes_pb2_grpc
from votemon.store import tally
from votemon.votes import MAX_BATCH

# What a flood of junk names may add to Redis: the names are refused or dead-lettered, so only the
# stored offsets and the real votes counted meanwhile change (README, "Redis memory": a few MiB).
FLOOD_REDIS_BYTES = 8 * 1024 * 1024
FLOOD_NAMES = 100_000
REWINDS = "votes_consumer_rewinds_total"
GOOD_RATIO = 0.95
GOOD_VOTES = 100  # the well-behaved client's, one at a time: the flood lasts as long as they do


def junk_vote(i: int) -> dict[str, Any]:
    return vote(f"Junk {uuid.uuid4().hex}", f"Album {i}")


def post(pipeline: Pipeline, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return pipeline.http.post(f"{pipeline.front}/grpc", json=body, headers=headers or {})


@pytest.mark.parametrize(
    ("body", "field", "index"),
    [
        (vote("Nobody Knows Them", "Mis palabras"), "name", None),
        (vote("Alux Nahual", "Mis palabras"), "album", None),  # Bohemia Suburbana's album
        ([vote("Alux Nahual", "El Viaje"), vote("Alux Nahual", "Junk")], "album", 1),
    ],
    ids=["unknown band", "album of another band", "one unknown album in a batch"],
)
def test_names_outside_the_catalogue_are_refused_naming_the_field(
    pipeline: Pipeline, body: Any, field: str, index: int | None
) -> None:
    produced = pipeline.produced()
    reply = post(pipeline, body)
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_votes"
    assert [(e["index"], e["field"]) for e in reply.json()["errors"]] == [(index, field)]
    assert pipeline.produced() == produced


def test_the_catalogues_bands_are_counted(pipeline: Pipeline) -> None:
    before = pipeline.band_count("Alux Nahual")
    assert (
        post(pipeline, [vote("Alux Nahual", "El Viaje"), vote("Alux Nahual", "Rock chapin")]).status_code
        == 202
    )
    assert pipeline.wait_band_count("Alux Nahual") == before + 2


def test_an_anonymous_request_carries_at_most_the_anonymous_limit(pipeline: Pipeline) -> None:
    band, limit = unique_band("Anonymous"), pipeline.settings.front_anonymous_max_votes
    produced = pipeline.produced()
    refused = post(pipeline, [vote(band)] * (limit + 1))
    assert refused.status_code == 401
    assert refused.json()["error"] == "token_required"
    assert refused.json()["field"] == "authorization"
    assert pipeline.produced() == produced
    assert post(pipeline, [vote(band)] * limit).status_code == 202
    assert post(pipeline, [vote(band)] * (limit + 1), pipeline.integrator_headers).status_code == 202
    assert pipeline.wait_band_count(band) == 2 * limit + 1


@pytest.mark.parametrize(
    "authorization", ["Bearer not-the-token", "Bearer", "Basic dXNlcjpwYXNz", "not-the-token"]
)
def test_a_bad_token_is_refused_even_for_one_vote(pipeline: Pipeline, authorization: str) -> None:
    band = unique_band("BadToken")
    produced = pipeline.produced()
    reply = post(pipeline, vote(band), {"Authorization": authorization})
    assert reply.status_code == 403
    assert reply.json()["error"] == "invalid_token"
    assert reply.json()["field"] == "authorization"
    assert pipeline.produced() == produced
    assert pipeline.band_count(band) == 0


def test_refusals_sent_before_the_body_is_read_keep_the_connection_serving(pipeline: Pipeline) -> None:
    """A bad token or media type is refused before the body is read; hypercorn then dropped the
    next requests on that keep-alive connection ("Server disconnected"), a load balancer's others too."""
    band = unique_band("KeepAlive")
    bad_token = {"Authorization": "Bearer not-the-token"}
    with httpx.Client(timeout=10) as client:
        for _ in range(3):
            assert (
                client.post(f"{pipeline.front}/grpc", json=vote(band), headers=bad_token).status_code == 403
            )
            not_json = client.post(
                f"{pipeline.front}/grpc", content=b"x" * 4096, headers={"Content-Type": "text/plain"}
            )
            assert not_json.status_code == 415
        assert client.post(f"{pipeline.front}/grpc", json=vote(band)).status_code == 202
    assert pipeline.wait_band_count(band) == 1


def test_the_grpc_server_refuses_names_outside_the_catalogue(pipeline: Pipeline) -> None:
    produced = pipeline.produced()
    request = votes_pb2.CastBatchRequest(
        votes=[
            votes_pb2.Vote(
                id=f"catalogue-{uuid.uuid4().hex}", name="Alux Nahual", album="El Viaje", year=2011, rank="9"
            ),
            votes_pb2.Vote(
                id=f"catalogue-{uuid.uuid4().hex}", name="Not A Band", album="X", year=2011, rank="9"
            ),
        ]
    )
    with (
        grpc.insecure_channel(pipeline.settings.grpc_target) as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        votes_pb2_grpc.VoteServiceStub(channel).CastBatch(request, timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "votes[1].name" in (refused.value.details() or "")
    assert pipeline.produced() == produced


def dead_letters(pipeline: Pipeline) -> list[Any]:
    topic = pipeline.settings.dead_letter_topic
    return pipeline.kafka.read(topic, sum(pipeline.kafka.end_offsets(topic).values()))


def test_a_flood_of_random_names_leaves_redis_and_the_totals_bounded(pipeline: Pipeline) -> None:
    """100,000 random names: at the front (100 requests of 1,000, as an integrator: refused whole),
    then written straight to the topic, around the front and the gRPC server (dead-lettered by the
    consumer with the reason, each once: Redis lost nothing, so nothing is rewound and read twice).
    Redis grows by less than FLOOD_REDIS_BYTES, /api/totals stays within its stated maximum, and a
    real vote sent after is counted."""
    redis_before = int(pipeline.redis.info("memory")["used_memory"])
    rewinds = service_metric(pipeline.services["consumer"], REWINDS)
    produced = pipeline.produced()
    batches = FLOOD_NAMES // MAX_BATCH
    statuses = {
        post(pipeline, [junk_vote(i) for i in range(MAX_BATCH)], pipeline.integrator_headers).status_code
        for _ in range(batches)
    }
    assert statuses == {400}
    assert pipeline.produced() == produced

    run = uuid.uuid4().hex[:8]
    junk = [
        {**junk_vote(i), "id": f"junk-{run}-{i}", "year": 1997, "accepted_at": "2026-01-01T00:00:00Z"}
        for i in range(FLOOD_NAMES)
    ]
    pipeline.kafka.produce(pipeline.settings.votes_topic, [(None, orjson.dumps(v)) for v in junk])
    band = unique_band("AfterFlood")
    assert post(pipeline, vote(band)).status_code == 202
    assert pipeline.wait_band_count(band, timeout=180) == 1

    assert service_metric(pipeline.services["consumer"], REWINDS) == rewinds
    ours = [r for r in dead_letters(pipeline) if r.value and f"junk-{run}-".encode() in r.value]
    assert len(ours) == FLOOD_NAMES
    assert dict(ours[0].headers)["reason"].startswith(b"name: not a band of the catalogue")
    assert not pipeline.redis.hexists(tally.BY_BAND, junk[0]["name"])
    redis_delta = int(pipeline.redis.info("memory")["used_memory"]) - redis_before
    body = pipeline.http.get(f"{pipeline.results}/api/totals").content
    print(
        f"\nflood of {FLOOD_NAMES} names: Redis used_memory delta {redis_delta} B, /api/totals {len(body)} B"
    )
    assert redis_delta < FLOOD_REDIS_BYTES
    assert len(body) <= tally.max_totals_bytes(pipeline.settings.totals_top)


def test_a_client_flooding_big_batches_is_shed_before_a_well_behaved_one(pipeline: Pipeline) -> None:
    """An integrator sends 1,000-vote batches on 4 connections at full speed while a well-behaved
    client sends GOOD_VOTES single votes, one at a time. The flooder is refused with 429 + Retry-After (its
    made-up X-Forwarded-For entries, different on each request, buy it nothing: the tests act as
    the one trusted proxy and append its address); the other gets at least GOOD_RATIO of its votes
    accepted. Every vote answered 202 is counted exactly once (a 503 with ids, "not confirmed",
    may or may not have landed: those bound the count from above). Ratios only, no timing."""
    flooder, good = unique_band("Flooder"), unique_band("WellBehaved")
    stop = threading.Event()
    flood_accepted, flood_statuses, flood_unconfirmed = [0], [], [0]
    lock = threading.Lock()

    def flood() -> None:
        with httpx.Client(timeout=30, headers=pipeline.integrator_headers) as client:
            while not stop.is_set():
                spoofed = f"10.{uuid.uuid4().int % 250}.0.1, 192.0.2.{uuid.uuid4().int % 250}"
                reply = client.post(
                    f"{pipeline.front}/grpc",
                    json=[vote(flooder)] * MAX_BATCH,
                    headers={"X-Forwarded-For": f"{spoofed}, 203.0.113.66"},
                )
                with lock:
                    flood_statuses.append(reply.status_code)
                    if reply.status_code == 202:
                        flood_accepted[0] += MAX_BATCH
                    elif reply.status_code == 503 and "ids" in reply.json():
                        flood_unconfirmed[0] += MAX_BATCH
                    elif reply.status_code == 429:
                        assert reply.headers["Retry-After"]

    good_statuses, good_unconfirmed = [], 0
    with ThreadPoolExecutor(4) as pool:
        floods = [pool.submit(flood) for _ in range(4)]
        try:
            with httpx.Client(timeout=30, headers={"X-Forwarded-For": "198.51.100.7"}) as client:
                for _ in range(GOOD_VOTES):
                    reply = client.post(f"{pipeline.front}/grpc", json=vote(good))
                    good_statuses.append(reply.status_code)
                    good_unconfirmed += reply.status_code == 503 and "ids" in reply.json()
        finally:
            stop.set()
        for each in floods:
            each.result()
    ratio = good_statuses.count(202) / len(good_statuses)
    print(
        f"\nflooder: {len(flood_statuses)} requests, {flood_statuses.count(202)} accepted, "
        f"{flood_statuses.count(429)} answered 429; well-behaved client: {ratio:.3f} accepted"
    )
    assert 429 in flood_statuses
    assert ratio >= GOOD_RATIO
    accepted = good_statuses.count(202)
    assert accepted <= pipeline.wait_band_count(good, timeout=120) <= accepted + good_unconfirmed
    flooded = pipeline.wait_band_count(flooder, timeout=120)
    assert flood_accepted[0] <= flooded <= flood_accepted[0] + flood_unconfirmed[0]

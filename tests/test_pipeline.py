"""End to end on the real stack: what is answered 202 is counted exactly once, per band and album."""

from __future__ import annotations

import collections
from concurrent.futures import ThreadPoolExecutor

import httpx

from votemon.dev.pipeline import Pipeline, unique_band, vote


def test_votes_sent_single_and_batched_concurrently_are_counted_exactly(pipeline: Pipeline) -> None:
    bands = [unique_band("Bohemia"), unique_band("Alux")]
    singles = [vote(bands[i % 2], f"Album {i % 3}", rank=i % 11) for i in range(60)]
    batches = [
        [vote(bands[(i + j) % 2], f"Album {j % 3}", year=2000 + j) for j in range(25)] for i in range(8)
    ]
    expected_bands = collections.Counter(v["name"] for v in singles + [v for b in batches for v in b])
    expected_albums = collections.Counter(
        f"{v['name']} / {v['album']}" for v in singles + [v for b in batches for v in b]
    )

    def send(body: object) -> httpx.Response:
        return httpx.post(
            f"{pipeline.front}/grpc", json=body, headers=pipeline.integrator_headers, timeout=10
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(send, singles + batches))

    assert [r.status_code for r in replies] == [202] * len(replies)
    ids = [vote_id for r in replies for vote_id in r.json()["ids"]]
    assert len(ids) == len(set(ids)) == sum(expected_bands.values())
    for band, count in expected_bands.items():
        assert pipeline.wait_band_count(band) == count
    albums = pipeline.redis.hgetall("votes:by-album")
    assert {k: int(v) for k, v in albums.items() if str(k).split(" / ")[0] in bands} == expected_albums
    documents = list(pipeline.logs.find({"name": {"$in": bands}}))
    assert sorted(d["_id"] for d in documents) == sorted(ids)
    assert collections.Counter(d["name"] for d in documents) == expected_bands


def test_the_log_document_keeps_every_field_and_accented_names_round_trip(pipeline: Pipeline) -> None:
    band = unique_band("Malacates Trébol Shop — Сплин ロック")
    reply = pipeline.post({"name": band, "album": "Álbum ロック", "year": 2014, "rank": 6.45})
    assert reply.status_code == 202
    (vote_id,) = reply.json()["ids"]
    assert pipeline.wait_band_count(band) == 1
    document = pipeline.logs.find_one({"_id": vote_id})
    assert document is not None
    assert {k: document[k] for k in ("name", "album", "year", "rank")} == {
        "name": band,
        "album": "Álbum ロック",
        "year": 2014,
        "rank": "6.45",
    }
    assert document["counted_at"] >= document["accepted_at"]
    assert pipeline.redis.hget("votes:by-album", f"{band} / Álbum ロック") == "1"


def test_a_vote_sent_twice_with_the_same_id_counts_once(pipeline: Pipeline) -> None:
    band = unique_band()
    same = vote(band, id="retry-" + band.split()[-1])
    first, second = pipeline.post(same), pipeline.post([same])
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["ids"] == second.json()["ids"] == [same["id"]]
    pipeline.post(vote(band))  # a different vote of the same band: the count must reach 2, not 3
    assert pipeline.wait_band_count(band) == 2
    assert pipeline.logs.count_documents({"name": band}) == 2


def test_both_paths_take_the_same_contract(pipeline: Pipeline) -> None:
    band = unique_band()
    assert pipeline.post(vote(band), path="/votes").status_code == 202
    assert pipeline.post(vote(band), path="/grpc").status_code == 202
    assert pipeline.wait_band_count(band) == 2

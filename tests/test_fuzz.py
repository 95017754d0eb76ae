"""Property-based fuzzing of POST /grpc on the running front: never a 5xx; every refusal a 4xx JSON
error naming the field; the answer agrees with the validation model; and refused requests
produce nothing to Kafka (each fuzzer checks it over its own run, against the votes answered 202,
so the tests hold in any order)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from votemon.catalogue import Catalogue
from votemon.dev.pipeline import Pipeline, unique_band
from votemon.dev.processes import write_test_catalogue
from votemon.votes import InvalidVotesError, parse_votes

BAND = unique_band("Fuzz")
CATALOGUE = Catalogue.load(write_test_catalogue())

texts = st.one_of(
    st.sampled_from(
        [BAND, f" {BAND} ", "", "   ", "\x00", "a\nb", "Сплин", "ロック", "Malacates Trébol Shop"]
    ),
    st.text(max_size=120),
    st.just("x" * 10_000),
)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1997, 2100, 1900, 9.5, 10, 0, 0.01, 9.555, 1e308, -0.0]),
)
numeric_strings = st.one_of(
    st.sampled_from(["1997", " 2014 ", "9.5", "10.00", "1e3", "NaN", "Infinity", "0x10", "9.555", ""]),
    st.from_regex(r"-?\d{1,5}(\.\d{0,4})?", fullmatch=True),
)
values = st.one_of(texts, numbers, numeric_strings, st.booleans(), st.none(), st.just([]), st.just({}))
votes = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(texts, values),
        "album": st.one_of(texts, values),
        "year": st.one_of(numbers, numeric_strings, values),
        "rank": st.one_of(numbers, numeric_strings, values),
        "id": st.one_of(st.from_regex(r"[A-Za-z0-9._:-]{1,70}", fullmatch=True), values),
        "extra": values,
    },
)
valid_votes = st.fixed_dictionaries(
    {
        "name": st.sampled_from([BAND, f"  {BAND}\t"]),
        "album": st.text(
            alphabet=st.characters(min_codepoint=0x20, exclude_categories=["Cc", "Cs"]),
            min_size=1,
            max_size=100,
        ).filter(str.strip),
        "year": st.one_of(st.integers(1900, 2100), st.integers(1900, 2100).map(str)),
        "rank": st.one_of(st.integers(0, 10), st.integers(0, 1000).map(lambda n: f"{n / 100:.2f}")),
    }
)
bodies = st.one_of(votes, valid_votes, st.lists(st.one_of(valid_votes, votes), max_size=4), values)


def expected_status(body: Any) -> int:
    """What the validation model and the catalogue make of the body."""
    try:
        votes, batched = parse_votes(orjson.loads(orjson.dumps(body)))
    except InvalidVotesError:
        return 400
    except orjson.JSONEncodeError:
        return 400
    return 400 if CATALOGUE.errors(votes, batched) else 202


def post(pipeline: Pipeline, content: bytes, accepted: list[int]) -> httpx.Response:
    """POST a body to /grpc: never a 5xx; the votes of a 202 are added to `accepted`."""
    headers = {"content-type": "application/json"}
    reply = httpx.post(f"{pipeline.front}/grpc", content=content, headers=headers)
    assert reply.status_code < 500, reply.text
    if reply.status_code == 202:
        accepted.append(reply.json()["accepted"])
    return reply


def test_any_json_body_gets_a_clear_answer(pipeline: Pipeline) -> None:
    accepted: list[int] = []

    @settings(max_examples=250, deadline=None)
    @given(body=bodies)
    def answer(body: Any) -> None:
        reply = post(pipeline, json.dumps(body, ensure_ascii=False).encode(), accepted)
        if reply.status_code != 202:
            error = reply.json()
            assert reply.status_code in {400, 413}
            assert error["error"] in {"invalid_votes", "malformed_json", "body_too_large"}
            if error["error"] == "invalid_votes":
                assert error["errors"]
                for problem in error["errors"]:
                    assert problem["message"]
                    assert problem["field"] is None or isinstance(problem["field"], str)
        assert reply.status_code == expected_status(body)

    before = pipeline.produced()
    answer()
    assert accepted, "the fuzzer accepted no vote at all: the strategies are too narrow"
    assert pipeline.produced() - before == sum(accepted), "only votes answered 202 reach Kafka"


def test_arbitrary_bytes_never_break_the_front(pipeline: Pipeline) -> None:
    accepted: list[int] = []

    @settings(max_examples=150, deadline=None)
    @given(
        raw=st.one_of(
            st.binary(max_size=300), st.sampled_from([b'{"name": "a", "album"', b"[{}", b'"', b"\xff"])
        )
    )
    def answer(raw: bytes) -> None:
        reply = post(pipeline, raw, accepted)
        if reply.status_code != 202:
            assert reply.status_code == 400
            assert reply.json()["error"] in {"invalid_votes", "malformed_json"}

    before = pipeline.produced()
    answer()
    assert pipeline.produced() - before == sum(accepted), "only votes answered 202 reach Kafka"

"""Unit tests of vote validation and conversion (pure logic, no services)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from votemon.rpc.votes.v1 import votes_pb2
from votemon.votes import (
    MAX_BATCH,
    NAME_MAX_LENGTH,
    AcceptedVote,
    InvalidVotesError,
    VoteIn,
    parse_votes,
    proto_errors,
)

SEED_VOTE = {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}


def test_the_seed_vote_with_strings_is_valid() -> None:
    (vote,), batched = parse_votes(SEED_VOTE)
    assert not batched
    assert (vote.name, vote.album, vote.year, vote.rank) == (
        "Bohemia Suburbana",
        "Mis palabras",
        1997,
        Decimal("9.5"),
    )


@pytest.mark.parametrize(
    ("year", "rank", "expected_year", "expected_rank"),
    [
        (1997, 9.5, 1997, "9.5"),
        ("2014", "6.40", 2014, "6.4"),
        (2000.0, 10, 2000, "10"),
        (" 1900 ", " 0 ", 1900, "0"),
        (2100, "0.01", 2100, "0.01"),
        (1999, 9.55, 1999, "9.55"),  # a float is read through its shortest repr: no 9.5499999
    ],
)
def test_year_and_rank_arrive_as_numbers_or_strings(
    year: object, rank: object, expected_year: int, expected_rank: str
) -> None:
    vote = VoteIn.model_validate({**SEED_VOTE, "year": year, "rank": rank})
    assert (vote.year, vote.rank_text) == (expected_year, expected_rank)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("year", 1899),
        ("year", 2101),
        ("year", "19 97"),
        ("year", 1997.5),
        ("year", False),
        ("year", None),
        ("rank", "10.5"),
        ("rank", "-0.01"),
        ("rank", "9.555"),
        ("rank", "NaN"),
        ("rank", "Infinity"),
        ("rank", float("inf")),
        ("rank", "1e1"),
        ("rank", True),
        ("name", ""),
        ("name", " \t "),
        ("name", "x" * 101),
        ("name", "tab\tinside"),
        ("album", None),
    ],
)
def test_out_of_contract_values_name_their_field(field: str, value: object) -> None:
    with pytest.raises(InvalidVotesError) as refused:
        parse_votes({**SEED_VOTE, field: value})
    assert [(e.index, e.field) for e in refused.value.errors] == [(None, field)]


def test_names_are_trimmed_and_may_be_any_script() -> None:
    vote = VoteIn.model_validate({**SEED_VOTE, "name": "  Сплин ", "album": "ロック"})
    assert (vote.name, vote.album) == ("Сплин", "ロック")


def test_a_batch_reports_every_bad_vote_by_index() -> None:
    body = [SEED_VOTE, {**SEED_VOTE, "rank": 11}, {**SEED_VOTE, "extra": 1}]
    with pytest.raises(InvalidVotesError) as refused:
        parse_votes(body)
    assert [(e.index, e.field, e.message) for e in refused.value.errors] == [
        (1, "rank", "Input should be less than or equal to 10"),
        (2, "extra", "unknown field"),
    ]


def test_batch_size_is_bounded() -> None:
    votes, batched = parse_votes([SEED_VOTE] * MAX_BATCH)
    assert batched
    assert len(votes) == MAX_BATCH
    with pytest.raises(InvalidVotesError):
        parse_votes([SEED_VOTE] * (MAX_BATCH + 1))


def test_ids_are_kept_or_given_as_uuid7_once_when_the_front_makes_the_proto() -> None:
    given = VoteIn.model_validate({**SEED_VOTE, "id": "client-key-1"}).to_proto()
    assigned = VoteIn.model_validate(SEED_VOTE).to_proto()
    assert given.id == "client-key-1"
    assert assigned.id[14] == "7"  # the UUID version digit
    stamped = AcceptedVote.from_proto(assigned, datetime.now(UTC))
    assert stamped.id == assigned.id  # the server keeps the front's id


def test_the_kafka_record_round_trips_every_field() -> None:
    vote = VoteIn.model_validate({**SEED_VOTE, "name": "Сплин"})
    accepted = AcceptedVote.accept(vote, datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=UTC))
    again = AcceptedVote.from_kafka(accepted.kafka_value())
    assert again == accepted
    assert accepted.kafka_key() == "Сплин".encode()
    assert accepted.album_key == "Сплин / Mis palabras"
    assert (accepted.year, accepted.rank) == (1997, "9.5")


def test_a_negative_zero_rank_is_sent_as_zero() -> None:
    """ "-0" is a rank of 0; sent as "-0" it was answered 202 and then refused by the consumer
    (dead letter): a vote accepted and never counted."""
    (vote,), _ = parse_votes({**SEED_VOTE, "rank": "-0.00"})
    proto = vote.to_proto()
    assert proto.rank == "0"
    assert proto_errors([proto]) == []
    assert AcceptedVote.from_kafka(AcceptedVote.from_proto(proto, datetime.now(UTC)).kafka_value())


# What the gRPC server refuses of a proto, field by field, without pydantic.
PROTO: dict[str, Any] = {
    "id": "v-1",
    "name": "Bohemia Suburbana",
    "album": "Mis palabras",
    "year": 1997,
    "rank": "9.5",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", ""),
        ("id", "no spaces"),
        ("id", "x" * 65),
        ("name", ""),
        ("name", " padded"),
        ("album", "x" * 101),
        ("album", "nul\x00"),
        ("name", "line\n"),
        ("year", 1899),
        ("year", 2101),
        ("rank", "9.50"),
        ("rank", "10.5"),
        ("rank", "-0"),
        ("rank", "9.5\n"),
        ("rank", ""),
    ],
)
def test_a_malformed_proto_names_its_field_and_index(field: str, value: Any) -> None:
    good = votes_pb2.Vote(**PROTO)
    bad = votes_pb2.Vote(**{**PROTO, field: value})
    assert proto_errors([good]) == []
    assert [(e.index, e.field) for e in proto_errors([good, bad])] == [(1, field)]


# Printable text of any script, and the whitespace that trimming removes (or must keep inside).
name_characters = st.one_of(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]),
    st.sampled_from(" \t\n\u0085\u00a0\u2003\u3000\u200b\u180e"),
)
names = st.text(name_characters, min_size=1, max_size=NAME_MAX_LENGTH + 5)
ranks = st.one_of(
    st.decimals(min_value=0, max_value=10, places=2).map(str),
    st.floats(min_value=0, max_value=10),
    st.sampled_from(["-0", "-0.00", "10.00", "0.10", " 9.5 ", "+7"]),
)
client_votes = st.fixed_dictionaries(
    {"name": names, "album": names, "year": st.integers(1895, 2105), "rank": ranks}
)


@settings(max_examples=300, deadline=None)
@given(client_votes)
def test_what_the_front_accepts_the_server_and_the_consumer_accept(body: dict[str, object]) -> None:
    """The two checks of one contract agree: every vote the front validates becomes a proto the
    server does not refuse, and a Kafka record the consumer parses back unchanged."""
    try:
        (vote,), _ = parse_votes(body)
    except InvalidVotesError:
        return
    proto = vote.to_proto()
    assert proto_errors([proto]) == []
    accepted = AcceptedVote.from_proto(proto, datetime.now(UTC))
    assert AcceptedVote.from_kafka(accepted.kafka_value()) == accepted


@pytest.mark.parametrize("value", [b"", b"not json", b'{"id": "x"}', b'{"name": "a"}', None])
def test_records_that_are_not_votes_are_refused(value: bytes | None) -> None:
    with pytest.raises(ValidationError):
        AcceptedVote.from_kafka(value)

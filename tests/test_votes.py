"""Unit tests of vote validation and conversion (pure logic, no services)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from votemon.votes import MAX_BATCH, AcceptedVote, InvalidVotesError, VoteIn, parse_votes

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


def test_ids_are_kept_or_assigned_as_uuid7() -> None:
    now = datetime.now(UTC)
    given = AcceptedVote.accept(VoteIn.model_validate({**SEED_VOTE, "id": "client-key-1"}), now)
    assigned = AcceptedVote.accept(VoteIn.model_validate(SEED_VOTE), now)
    assert given.id == "client-key-1"
    assert assigned.id is not None
    assert assigned.id[14] == "7"  # the UUID version digit


def test_the_kafka_record_round_trips_every_field() -> None:
    vote = VoteIn.model_validate({**SEED_VOTE, "name": "Сплин"})
    accepted = AcceptedVote.accept(vote, datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=UTC))
    again = AcceptedVote.from_kafka(accepted.kafka_value())
    assert again == accepted
    assert accepted.kafka_key() == "Сплин".encode()
    assert accepted.album_key == "Сплин / Mis palabras"
    proto = accepted.to_proto()
    assert (proto.id, proto.year, proto.rank) == (accepted.id, 1997, "9.5")
    assert proto.accepted_at.ToDatetime(tzinfo=UTC) == accepted.accepted_at


@pytest.mark.parametrize("value", [b"", b"not json", b'{"id": "x"}', b'{"name": "a"}', None])
def test_records_that_are_not_votes_are_refused(value: bytes | None) -> None:
    with pytest.raises(ValidationError):
        AcceptedVote.from_kafka(value)

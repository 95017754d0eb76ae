"""The vote: validation of what clients send, and its forms on the wire (protobuf) and in Kafka (JSON)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from uuid6 import uuid7

from votemon.rpc.votes.v1 import votes_pb2

MAX_BATCH = 1000
NAME_MAX_LENGTH = 100
YEAR_MIN, YEAR_MAX = 1900, 2100
RANK_MAX = 10
VOTE_ID_MAX_LENGTH = 64
# Printable text only: control characters (NUL among them) have no place in a band's name.
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
VOTE_ID = r"^[A-Za-z0-9._:-]+$"
# The rank as the front sends it and Kafka holds it: the shortest exact decimal text from 0 to 10
# with at most two places ("9.5", never "9.50" or "-0").
RANK_TEXT = r"^(?:10|\d(?:\.\d?[1-9])?)$"

_INTEGER = re.compile(r"[+-]?\d{1,10}")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_PRINTABLE = re.compile(PRINTABLE)
_VOTE_ID = re.compile(VOTE_ID)
_RANK_TEXT = re.compile(RANK_TEXT)


def _refuse_bool(value: Any, kind: str) -> None:
    if isinstance(value, bool):
        raise ValueError(f"must be {kind}, not a boolean")


def _text_matching(value: str, pattern: re.Pattern[str], message: str) -> str:
    """The stripped text, if all of it matches `pattern`; else a ValueError with `message`."""
    text = value.strip()
    if not pattern.fullmatch(text):
        raise ValueError(message)
    return text


def _integer(value: Any) -> Any:
    """Accept an integer, or a string of digits; never a bool or a fraction."""
    _refuse_bool(value, "an integer")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("must be a whole number")
    if isinstance(value, str):
        value = _text_matching(value, _INTEGER, "must be an integer or a string of digits")
    return int(value) if isinstance(value, str | float) else value


def _decimal(value: Any) -> Any:
    """Accept a number or a plain decimal string; a float goes through its shortest repr, not binary."""
    _refuse_bool(value, "a number")
    if isinstance(value, str):
        return Decimal(_text_matching(value, _DECIMAL, "must be a decimal number such as 9.5"))
    return Decimal(repr(value)) if isinstance(value, float | int) else value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_LENGTH, pattern=PRINTABLE),
]
Year = Annotated[int, BeforeValidator(_integer), Field(strict=True, ge=YEAR_MIN, le=YEAR_MAX)]
Rank = Annotated[
    Decimal,
    BeforeValidator(_decimal),
    Field(strict=True, ge=0, le=RANK_MAX, decimal_places=2, allow_inf_nan=False),
]
VoteId = Annotated[str, StringConstraints(min_length=1, max_length=VOTE_ID_MAX_LENGTH, pattern=VOTE_ID)]


class VoteIn(BaseModel):
    """A vote as a client sends it. Unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: VoteId | None = None
    name: Name
    album: Name
    year: Year
    rank: Rank

    @property
    def rank_text(self) -> str:
        """The rank in its shortest exact decimal form: 9.50 -> "9.5", 10 -> "10", -0 -> "0"."""
        return format(abs(self.rank).normalize(), "f")

    def to_proto(self) -> votes_pb2.Vote:
        """The vote as the front sends it, with its id: the client's, else a new one. This is the
        one place ids are given, before any call, so that a client told 503 can retry with them."""
        return votes_pb2.Vote(
            id=self.id or new_vote_id(),
            name=self.name,
            album=self.album,
            year=self.year,
            rank=self.rank_text,
        )


class AcceptedVote(BaseModel):
    """A vote the server took: the record written to Kafka and read back by the consumer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: VoteId
    name: Name
    album: Name
    year: Year
    rank: Annotated[str, StringConstraints(pattern=RANK_TEXT)]
    accepted_at: datetime

    @classmethod
    def from_proto(cls, vote: votes_pb2.Vote, now: datetime) -> AcceptedVote:
        """Stamp a vote that passed `proto_errors`: constructed, not validated by pydantic again
        (that second validation was a third of the grpc-server's CPU on batches, by the profile)."""
        return cls.model_construct(
            id=vote.id, name=vote.name, album=vote.album, year=vote.year, rank=vote.rank, accepted_at=now
        )

    @classmethod
    def accept(cls, vote: VoteIn, now: datetime) -> AcceptedVote:
        """What the front and the server together make of a client's vote, for producing records
        directly (the consumer's tests, the bench)."""
        return cls.from_proto(vote.to_proto(), now)

    @property
    def album_key(self) -> str:
        """The field of the per-album counter: albums of different bands may share a title."""
        return f"{self.name} / {self.album}"

    def kafka_key(self) -> bytes:
        """Keyed by band, so one band's votes stay ordered in one partition."""
        return self.name.encode()

    def kafka_value(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_kafka(cls, value: bytes | None) -> AcceptedVote:
        """Parse a record's value; raises ValidationError for anything that is not a vote."""
        return _accepted_adapter.validate_json(value or b"")


_accepted_adapter = TypeAdapter(AcceptedVote)
_batch_adapter = TypeAdapter(list[VoteIn])


class FieldError(BaseModel):
    """One reason a request was refused: which vote (index in a batch) and which field."""

    index: int | None
    field: str | None
    message: str


class InvalidVotesError(Exception):
    """The request holds at least one invalid vote; nothing of it is sent."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


def field_errors(error: ValidationError, batched: bool) -> list[FieldError]:
    """Turn pydantic's errors into index + field + message, as clients need to fix their request."""
    found = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        loc = list(item["loc"])
        index = loc.pop(0) if batched and loc and isinstance(loc[0], int) else None
        field = str(loc[0]) if loc else None
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] in {"model_type", "model_attributes_type"}:
            message = "each vote must be a JSON object"
        found.append(
            FieldError(index=index if isinstance(index, int) else None, field=field, message=message)
        )
    return found


def parse_votes(document: Any) -> tuple[list[VoteIn], bool]:
    """Validate a decoded JSON body: one vote object or a list of up to MAX_BATCH votes.

    Returns the votes and whether the body was a batch; raises InvalidVotesError naming every bad field.
    """
    if isinstance(document, list):
        if not document:
            raise InvalidVotesError([FieldError(index=None, field=None, message="the batch is empty")])
        if len(document) > MAX_BATCH:
            message = f"at most {MAX_BATCH} votes per request, got {len(document)}"
            raise InvalidVotesError([FieldError(index=None, field=None, message=message)])
        try:
            return _batch_adapter.validate_python(document), True
        except ValidationError as error:
            raise InvalidVotesError(field_errors(error, batched=True)) from None
    if not isinstance(document, dict):
        message = "the body must be a vote object or an array of votes"
        raise InvalidVotesError([FieldError(index=None, field=None, message=message)])
    try:
        return [VoteIn.model_validate(document)], False
    except ValidationError as error:
        raise InvalidVotesError(field_errors(error, batched=False)) from None


def _name_error(text: str) -> str | None:
    if not 0 < len(text) <= NAME_MAX_LENGTH or text != text.strip() or not _PRINTABLE.fullmatch(text):
        return f"must be 1 to {NAME_MAX_LENGTH} printable characters, trimmed"
    return None


def _vote_errors(vote: votes_pb2.Vote) -> dict[str, str | None]:
    id_ok = len(vote.id) <= VOTE_ID_MAX_LENGTH and _VOTE_ID.fullmatch(vote.id)
    return {
        "id": None if id_ok else f"required: 1 to {VOTE_ID_MAX_LENGTH} of A-Z a-z 0-9 . _ : -",
        "name": _name_error(vote.name),
        "album": _name_error(vote.album),
        "year": None if YEAR_MIN <= vote.year <= YEAR_MAX else f"must be from {YEAR_MIN} to {YEAR_MAX}",
        "rank": None if _RANK_TEXT.fullmatch(vote.rank) else f"must be 0 to {RANK_MAX} as text like 9.5",
    }


def proto_errors(votes: Sequence[votes_pb2.Vote]) -> list[FieldError]:
    """What the gRPC server checks of each vote it is sent: the form `VoteIn.to_proto` gives, field by
    field, with a length, a range and a regex. The front validated the client's JSON with pydantic
    (coercing strings, trimming, normalising the rank); running pydantic again on the same vote would
    repeat that work, while these checks still keep a malformed call (another client, a front of
    another version) out of Kafka, naming the field."""
    return [
        FieldError(index=index, field=field, message=message)
        for index, vote in enumerate(votes)
        for field, message in _vote_errors(vote).items()
        if message is not None
    ]


def new_vote_id() -> str:
    """A UUIDv7: unique, and ordered by creation time, so logs sort by it."""
    return str(uuid7())


def utc_now() -> datetime:
    return datetime.now(UTC)

"""The vote: validation of what clients send, and its forms on the wire (protobuf) and in Kafka (JSON)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp
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

_INTEGER = re.compile(r"[+-]?\d{1,10}")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def _integer(value: Any) -> Any:
    """Accept an integer, or a string of digits; never a bool or a fraction."""
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    if isinstance(value, str):
        text = value.strip()
        if not _INTEGER.fullmatch(text):
            raise ValueError("must be an integer or a string of digits")
        return int(text)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


def _decimal(value: Any) -> Any:
    """Accept a number or a plain decimal string; a float goes through its shortest repr, not binary."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        text = value.strip()
        if not _DECIMAL.fullmatch(text):
            raise ValueError("must be a decimal number such as 9.5")
        return Decimal(text)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    return value


# Printable text only: control characters (NUL among them) have no place in a band's name.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$"),
]
Year = Annotated[int, BeforeValidator(_integer), Field(strict=True, ge=1900, le=2100)]
Rank = Annotated[
    Decimal,
    BeforeValidator(_decimal),
    Field(strict=True, ge=0, le=10, decimal_places=2, allow_inf_nan=False),
]
VoteId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


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
        """The rank in its shortest exact decimal form: 9.50 -> "9.5", 10 -> "10"."""
        return format(self.rank.normalize(), "f")

    def to_proto(self, vote_id: str) -> votes_pb2.Vote:
        return votes_pb2.Vote(
            id=vote_id, name=self.name, album=self.album, year=self.year, rank=self.rank_text
        )

    @classmethod
    def from_proto(cls, vote: votes_pb2.Vote) -> VoteIn:
        return cls(id=vote.id or None, name=vote.name, album=vote.album, year=vote.year, rank=vote.rank)


class AcceptedVote(BaseModel):
    """A vote the server took: the record written to Kafka and read back by the consumer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: VoteId
    name: Name
    album: Name
    year: Year
    rank: Annotated[str, StringConstraints(pattern=r"^\d{1,2}(\.\d{1,2})?$")]
    accepted_at: datetime

    @classmethod
    def accept(cls, vote: VoteIn, now: datetime) -> AcceptedVote:
        """Stamp a validated vote; the client's id is kept, else a new one is given."""
        # `vote` is validated already: construct, do not validate a second time (a third of the
        # grpc-server's CPU on batches, by the bench's profile)
        return cls.model_construct(
            id=vote.id or new_vote_id(),
            name=vote.name,
            album=vote.album,
            year=vote.year,
            rank=vote.rank_text,
            accepted_at=now,
        )

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

    def to_proto(self) -> votes_pb2.Vote:
        accepted_at = Timestamp()
        accepted_at.FromDatetime(self.accepted_at)
        return votes_pb2.Vote(
            id=self.id,
            name=self.name,
            album=self.album,
            year=self.year,
            rank=self.rank,
            accepted_at=accepted_at,
        )


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


def new_vote_id() -> str:
    """A UUIDv7: unique, and ordered by creation time, so logs sort by it."""
    return str(uuid7())


def utc_now() -> datetime:
    return datetime.now(UTC)

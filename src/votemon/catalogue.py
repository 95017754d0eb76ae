"""The closed catalogue: the only bands and albums that can be voted for.

It is configuration, kept in one place in git (base/pipeline-config/catalogue.json, rendered as the
ConfigMap votemon-catalogue and mounted where CATALOGUE_FILE points), so changing it is a pull
request. The front refuses an unknown name with 400 before anything is sent, the gRPC server checks
the same list (it is a trust boundary), and the consumer dead-letters a record that still names one:
free-text names would otherwise grow the counters without bound (security review, finding 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from votemon.votes import NAME_MAX_LENGTH, PRINTABLE, FieldError

CatalogueName = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX_LENGTH, pattern=PRINTABLE)]


class NamedVote(Protocol):
    """What the catalogue checks of a vote, in any of its forms (VoteIn, the protobuf, AcceptedVote)."""

    @property
    def name(self) -> str: ...

    @property
    def album(self) -> str: ...


class Catalogue(BaseModel):
    """Each band with its albums. `test_band_prefix` admits any band whose name starts with it, with
    any album: only the catalogues the tests and the bench write (votemon.dev) set it, and the
    validator refuses it in the one in git (tests/test_catalogue.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bands: dict[CatalogueName, frozenset[CatalogueName]] = Field(min_length=1)
    test_band_prefix: Annotated[str, StringConstraints(min_length=1)] | None = None

    @classmethod
    def load(cls, path: Path) -> Catalogue:
        """The catalogue in `path`; a service cannot start without it: SystemExit with a message
        naming the file (no traceback) when it is missing or malformed."""
        try:
            return cls.model_validate_json(path.read_bytes())
        except OSError as error:
            raise SystemExit(f"cannot read the catalogue {path} (CATALOGUE_FILE): {error}") from None
        except ValidationError as error:
            raise SystemExit(f"the catalogue {path} (CATALOGUE_FILE) is invalid: {error}") from None

    def _is_test_band(self, band: str) -> bool:
        return self.test_band_prefix is not None and band.startswith(self.test_band_prefix)

    def vote_errors(self, vote: NamedVote) -> dict[str, str]:
        """The field refused and why: the band, else the album of a known band."""
        if self._is_test_band(vote.name):
            return {}
        albums = self.bands.get(vote.name)
        if albums is None:
            return {"name": "not a band of the catalogue"}
        if vote.album not in albums:
            return {"album": f"not an album of {vote.name} in the catalogue"}
        return {}

    def errors(self, votes: Sequence[NamedVote], batched: bool = True) -> list[FieldError]:
        """Every unknown band or album of a request, by index in the batch (None for a single vote)."""
        return [
            FieldError(index=index if batched else None, field=field, message=message)
            for index, vote in enumerate(votes)
            for field, message in self.vote_errors(vote).items()
        ]

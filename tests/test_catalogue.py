"""The closed catalogue (pure logic): the one in git, what it admits, and the load test's data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from votemon.catalogue import Catalogue
from votemon.dev.processes import CATALOGUE, TEST_BAND_PREFIX, write_test_catalogue
from votemon.settings import Settings
from votemon.votes import VoteIn

LOADTEST_VOTES = Path(__file__).resolve().parents[1] / "loadtest" / "data" / "votes.json"


def test_the_catalogue_in_git_is_closed_and_the_default() -> None:
    catalogue = Catalogue.load(CATALOGUE)
    assert catalogue.test_band_prefix is None, "only the tests' catalogue admits bands by prefix"
    assert Settings().catalogue_file.resolve() == CATALOGUE


def test_the_load_tests_votes_name_only_catalogue_bands_and_albums() -> None:
    catalogue = Catalogue.load(CATALOGUE)
    votes = [VoteIn.model_validate(vote) for vote in json.loads(LOADTEST_VOTES.read_text())]
    assert catalogue.errors(votes) == []


def test_unknown_bands_and_albums_are_named_by_field_and_index() -> None:
    catalogue = Catalogue.load(CATALOGUE)
    known = VoteIn(name="Alux Nahual", album="El Viaje", year=2011, rank=9)
    errors = catalogue.errors(
        [known, known.model_copy(update={"name": "Alux"}), known.model_copy(update={"album": "Mis palabras"})]
    )
    assert [(e.index, e.field) for e in errors] == [(1, "name"), (2, "album")]
    assert [
        (e.index, e.field) for e in catalogue.errors([known.model_copy(update={"name": "x"})], False)
    ] == [(None, "name")]


def test_the_tests_catalogue_admits_their_bands_with_any_album_and_nothing_else() -> None:
    catalogue = Catalogue.load(write_test_catalogue())
    vote = VoteIn(name=f"{TEST_BAND_PREFIX}Band 1", album="Any", year=2011, rank=9)
    assert catalogue.errors([vote]) == []
    assert catalogue.errors([vote.model_copy(update={"name": "Band 1"})])


@pytest.mark.parametrize("text", ["", "{}", '{"bands": {}}', '{"bands": {"A": ["B"]}, "extra": 1}'])
def test_a_missing_or_malformed_catalogue_stops_the_service_with_a_message(tmp_path: Path, text: str) -> None:
    path = tmp_path / "catalogue.json"
    if text:
        path.write_text(text)
    with pytest.raises(SystemExit, match="CATALOGUE_FILE"):
        Catalogue.load(path)

"""The front's refusals that come before any call to the vote service (issue 26): names outside the
catalogue, too many votes for an anonymous request, a bad token. No stack: the front's channel
points at a closed port, and none of these requests may reach it (a 5xx would show it did)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from quart.typing import TestClientProtocol as FrontClient

from votemon.catalogue import Catalogue
from votemon.dev.processes import CATALOGUE, free_port
from votemon.front import create_app, grpc_channel
from votemon.settings import Settings

TOKEN = "integrator-token-for-this-test"  # pragma: allowlist secret
KNOWN = {"name": "Alux Nahual", "album": "El Viaje", "year": 2011, "rank": 9}


@pytest.fixture
async def front() -> AsyncIterator[FrontClient]:
    port = free_port()
    settings = Settings(grpc_target=f"127.0.0.1:{port}", integrator_tokens=SecretStr(TOKEN))
    channel = grpc_channel(settings)
    try:
        yield create_app(settings, channel, Catalogue.load(CATALOGUE)).test_client()
    finally:
        await channel.close()


async def post(front: FrontClient, body: Any, **headers: str) -> tuple[int, dict[str, Any]]:
    reply = await front.post("/grpc", json=body, headers=headers)
    return reply.status_code, await reply.get_json()


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({**KNOWN, "name": "Unknown Band"}, [(None, "name")]),
        ({**KNOWN, "album": "Mis palabras"}, [(None, "album")]),
        ([KNOWN, {**KNOWN, "name": "x"}, {**KNOWN, "album": "y"}], [(1, "name"), (2, "album")]),
    ],
)
async def test_names_outside_the_catalogue_get_400_naming_index_and_field(
    front: FrontClient, body: Any, errors: list[tuple[int | None, str]]
) -> None:
    status, answer = await post(front, body)
    assert status == 400
    assert answer["error"] == "invalid_votes"
    assert [(e["index"], e["field"]) for e in answer["errors"]] == errors


async def test_more_than_the_anonymous_limit_needs_a_token(front: FrontClient) -> None:
    status, answer = await post(front, [{**KNOWN, "name": "Unknown"}] * 11)
    assert (status, answer["error"], answer["field"]) == (401, "token_required", "authorization")
    # with the token the same batch gets as far as the catalogue check
    status, answer = await post(front, [{**KNOWN, "name": "Unknown"}] * 11, Authorization=f"Bearer {TOKEN}")
    assert status == 400
    assert answer["error"] == "invalid_votes"


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer", TOKEN])
async def test_a_bad_token_gets_403_before_the_body_is_read(front: FrontClient, authorization: str) -> None:
    status, answer = await post(front, KNOWN, Authorization=authorization)
    assert (status, answer["error"], answer["field"]) == (403, "invalid_token", "authorization")

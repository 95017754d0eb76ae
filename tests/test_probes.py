"""/healthz says which build answers: the VOTEMON_VERSION the image bakes in (the Dockerfile's build
argument), read by the one Settings object. No services: the probe apps in Quart's test client."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from votemon.runtime import ops_app
from votemon.settings import Settings


async def answer_ready() -> bool:
    return True


def test_the_version_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOTEMON_VERSION", raising=False)
    assert Settings().votemon_version == "dev", "a build without the argument says so"
    monkeypatch.setenv("VOTEMON_VERSION", "sha-0123456789ab")
    assert Settings().votemon_version == "sha-0123456789ab"
    monkeypatch.setenv("VOTEMON_VERSION", "")
    with pytest.raises(ValidationError, match="votemon_version"):
        Settings()


async def test_healthz_reports_the_version() -> None:
    client = ops_app("grpc-server", answer_ready, "sha-0123456789ab").test_client()
    reply = await client.get("/healthz")
    assert reply.status_code == 200
    assert await reply.get_json() == {"status": "ok", "version": "sha-0123456789ab"}

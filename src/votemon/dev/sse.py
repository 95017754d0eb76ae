"""A client of the results stream (/api/stream) for the tests and the bench: its Server-Sent Events,
parsed as a browser's EventSource would (event, id, data; comments and `retry:` skipped)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson


@dataclass(frozen=True)
class Event:
    name: str
    id: int
    data: dict[str, Any]


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    """The events of an open streaming response, until the server ends it."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
            continue
        if "data" in fields:
            yield Event(fields.get("event", "message"), int(fields["id"]), orjson.loads(fields["data"]))
        fields = {}


@contextlib.asynccontextmanager
async def stream(
    client: httpx.AsyncClient, base_url: str, last_event_id: int | None = None
) -> AsyncIterator[AsyncIterator[Event]]:
    """GET /api/stream, checked to be an event stream, as an iterator of its events."""
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    async with client.stream("GET", f"{base_url}/api/stream", headers=headers) as response:
        response.raise_for_status()
        assert response.headers["content-type"].startswith("text/event-stream"), response.headers
        yield events(response)

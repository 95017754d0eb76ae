"""The local deploy-feedback receiver (votemon.dev.notification_receiver) over real HTTP: what Argo
CD posts is answered back in order; a body that is not a JSON object is refused and not recorded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import httpx
import pytest

from votemon.dev.notification_receiver import Notifications, handler


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(Notifications()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_notifications_are_answered_in_arrival_order(receiver: str) -> None:
    for revision in ("a1", "b2"):
        reply = httpx.post(receiver, json={"event": "deployed", "app": "pipeline", "revision": revision})
        assert reply.status_code == 200
    received = httpx.get(receiver).json()
    assert [(n["event"], n["revision"]) for n in received] == [("deployed", "a1"), ("deployed", "b2")]
    assert all(isinstance(n["received"], float) for n in received)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_refused(receiver: str, body: bytes) -> None:
    reply = httpx.post(receiver, content=body)
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("body: ")
    assert httpx.get(receiver).json() == []

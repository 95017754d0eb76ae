"""The run's deployed image and its Grafana annotation (loadtest.grafana): the annotation's body as
pure logic on a recorded run, then both HTTP calls against a small real HTTP server standing in for
the front's /healthz and Grafana's /api/annotations, answering, refusing or gone."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loadtest import grafana, history, report
from votemon.dev.processes import free_port

RECORDED = Path(__file__).parent / "data" / "loadtest-history.jsonl"


@dataclass
class Endpoint:
    """What the server answers on every path, and every request it received."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"status": "ok"})
    received: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Endpoint]]:
    endpoint = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def answer(self, body: dict[str, Any]) -> None:
            endpoint.received.append((self.command, self.path, self.headers.get("Authorization", ""), body))
            reply = json.dumps(endpoint.body).encode()
            self.send_response(endpoint.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def do_GET(self) -> None:
            self.answer({})

        def do_POST(self) -> None:
            self.answer(json.loads(self.rfile.read(int(self.headers["content-length"]))))

        def log_message(self, *_: Any) -> None:
            """Quiet: the test reads `received`."""

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_address[1]}", endpoint
    http.shutdown()
    http.server_close()
    thread.join(timeout=5)


@pytest.fixture
def record() -> dict[str, Any]:
    last = history.read(RECORDED)[-1]
    return {**last, "image": "sha-0123456789ab"}


def test_the_annotation_is_one_tagged_region_naming_the_run(record: dict[str, Any]) -> None:
    body = grafana.annotation(record, start_ms=1_000, end_ms=16_500)
    assert body["time"] == 1_000 and body["timeEnd"] == 16_500
    assert body["tags"] == ["loadtest"]
    text, settings, figures = body["text"], record["settings"], record["figures"]
    assert record["id"] in text and f"{settings['users']} users" in text
    assert f"{figures['requests_per_second']:.1f} req/s" in text
    assert f"accepted {figures['accepted']}, counted {figures['counted']}" in text
    assert report.verdict(record) in text and "image sha-0123456789ab" in text
    failed = {**record, "verdicts": {**record["verdicts"], "counted_equals_accepted": False}}
    assert "FAIL (counted = accepted)" in grafana.annotation(failed, start_ms=1, end_ms=2)["text"]
    older = {key: value for key, value in record.items() if key != "image"}  # recorded before images
    assert "image unknown" in grafana.annotation(older, start_ms=1, end_ms=2)["text"]
    assert grafana.annotation(record, start_ms=5, end_ms=4)["timeEnd"] == 5  # never a negative region


def test_grafana_receives_the_annotation_with_the_token(
    server: tuple[str, Endpoint], record: dict[str, Any]
) -> None:
    url, grafana_ = server
    body = grafana.annotation(record, start_ms=1_000, end_ms=2_000)
    assert grafana.annotate(url, body, token="glsa_test") is None
    assert grafana_.received == [("POST", "/api/annotations", "Bearer glsa_test", body)]


def test_a_refusing_or_unreachable_grafana_is_a_warning_naming_it(
    server: tuple[str, Endpoint], record: dict[str, Any]
) -> None:
    url, grafana_ = server
    grafana_.status, grafana_.body = 401, {"message": "invalid API key"}
    body = grafana.annotation(record, start_ms=1_000, end_ms=2_000)
    refused = grafana.annotate(url, body, token="wrong")
    assert refused is not None and url in refused and "401" in refused and "invalid API key" in refused
    gone = f"http://127.0.0.1:{free_port()}"
    unreachable = grafana.annotate(gone, body, token="")
    assert unreachable is not None and gone in unreachable and "unreachable" in unreachable


def test_the_image_is_the_fronts_version_else_the_given_one_else_unknown(
    server: tuple[str, Endpoint],
) -> None:
    url, front = server
    front.body = {"status": "ok", "version": "sha-abc123"}
    assert grafana.deployed_image(url, "given") == "sha-abc123"
    assert front.received[-1][:2] == ("GET", "/healthz")
    front.body = {"status": "ok"}  # a front without the version field
    assert grafana.deployed_image(url, "given") == "given"
    assert grafana.deployed_image(url) == "unknown"
    gone = f"http://127.0.0.1:{free_port()}"
    assert grafana.deployed_image(gone, "given") == "given"
    assert grafana.deployed_image(gone) == "unknown"

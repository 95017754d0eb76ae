"""JSON answers shared by the HTTP services (front, results): one shape for every error."""

from __future__ import annotations

from typing import Any

import orjson
from quart import Response


def json_response(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def error_response(status: int, error: str, message: str, **extra: Any) -> Response:
    """`{"error": <code>, "message": <for a person>, ...}`; `field` names what to fix."""
    return json_response({"error": error, "message": message, **extra}, status)

"""The HTTP front: validates votes, hands them to the gRPC server, and answers 202 once Kafka has them."""

from __future__ import annotations

import time
from typing import Any

import grpc
import orjson
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import Counter, Histogram
from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from votemon.rpc.votes.v1 import votes_pb2, votes_pb2_grpc
from votemon.runtime import add_probes, configure_logging, serve_app, stop_event
from votemon.settings import Settings
from votemon.votes import FieldError, InvalidVotesError, VoteIn, parse_votes

MAX_BODY_BYTES = 1024 * 1024

REQUESTS = Counter("votes_http_requests_total", "HTTP vote requests by status", ["status"])
VOTES_ACCEPTED = Counter("votes_accepted_total", "Votes answered 202: acknowledged by Kafka")
REQUEST_SECONDS = Histogram(
    "votes_http_request_seconds",
    "Vote request latency, from body read to reply",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

_RETRY_STATUSES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def grpc_channel(settings: Settings) -> grpc.aio.Channel:
    """One long-lived channel. round_robin spreads calls over every address the target resolves to
    (a headless Service in the cluster), instead of pinning all calls to one server pod."""
    return grpc.aio.insecure_channel(
        settings.grpc_target,
        options=[
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.max_send_message_length", 4 * MAX_BODY_BYTES),
        ],
    )


def json_response(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def error_response(status: int, error: str, message: str, **extra: Any) -> Response:
    return json_response({"error": error, "message": message, **extra}, status)


def create_app(settings: Settings, channel: grpc.aio.Channel) -> Quart:
    app = Quart("votemon.front")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    votes_stub = votes_pb2_grpc.VoteServiceStub(channel)
    health_stub = health_pb2_grpc.HealthStub(channel)
    log = structlog.get_logger()

    async def grpc_ready() -> bool:
        try:
            reply = await health_stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    add_probes(app, grpc_ready)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 413:
            return error_response(
                413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes", field="body"
            )
        return error_response(status, error.name.lower().replace(" ", "_"), error.description or error.name)

    async def cast(
        votes: list[VoteIn], batched: bool
    ) -> votes_pb2.CastBatchResponse | votes_pb2.CastResponse:
        deadline = settings.grpc_deadline_seconds
        if batched:
            return await votes_stub.CastBatch(
                votes_pb2.CastBatchRequest(votes=[vote.to_proto() for vote in votes]), timeout=deadline
            )
        return await votes_stub.Cast(votes_pb2.CastRequest(vote=votes[0].to_proto()), timeout=deadline)

    async def submit() -> Response:
        started = time.perf_counter()
        response = await _submit()
        REQUESTS.labels(status=str(response.status_code)).inc()
        REQUEST_SECONDS.observe(time.perf_counter() - started)
        return response

    async def _submit() -> Response:
        if request.mimetype != "application/json":
            return error_response(
                415, "unsupported_media_type", "send the vote as application/json", field="body"
            )
        body = await request.get_data(cache=False)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            return error_response(400, "malformed_json", f"the body is not valid JSON: {error}", field="body")
        try:
            parsed, batched = parse_votes(document)
        except InvalidVotesError as invalid:
            return invalid_votes_response(invalid.errors)
        # Ids are assigned here, before the call, so that a client told 503 can retry with the same ids.
        votes = [vote.with_id() for vote in parsed]
        ids = [vote.id for vote in votes]
        try:
            await cast(votes, batched)
        except grpc.aio.AioRpcError as error:
            if error.code() in _RETRY_STATUSES:
                log.warning("votes not acknowledged", votes=len(votes), code=error.code().name)
                return json_response(
                    {
                        "error": "unavailable",
                        "message": "the votes were not confirmed; retry later with the same ids",
                        "ids": ids,
                    },
                    503,
                    headers={"Retry-After": str(settings.retry_after_seconds)},
                )
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                return error_response(400, "invalid_votes", error.details() or "invalid votes")
            log.error("gRPC call failed", code=error.code().name, details=error.details())
            return error_response(502, "bad_gateway", "the vote service failed")
        VOTES_ACCEPTED.inc(len(votes))
        return json_response({"accepted": len(votes), "ids": ids}, 202)

    app.add_url_rule("/grpc", "grpc", submit, methods=["POST"])
    app.add_url_rule("/votes", "votes", submit, methods=["POST"])
    return app


def invalid_votes_response(errors: list[FieldError]) -> Response:
    return json_response(
        {
            "error": "invalid_votes",
            "message": "some votes are invalid; nothing was sent",
            "errors": [error.model_dump() for error in errors],
        },
        400,
    )


async def run(settings: Settings) -> None:
    log = configure_logging(settings, "front")
    stopping = stop_event()
    channel = grpc_channel(settings)
    log.info("serving", bind=settings.front_bind, grpc_target=settings.grpc_target)
    try:
        await serve_app(create_app(settings, channel), settings.front_bind, stopping, settings)
    finally:
        await channel.close()
    log.info("stopped")

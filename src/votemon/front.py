"""The HTTP front: validates votes, hands them to the gRPC server, and answers 202 once Kafka has them."""

from __future__ import annotations

import asyncio
import time

import grpc
import orjson
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import Counter, Gauge, Histogram
from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from votemon.http import error_response, json_response
from votemon.rpc.votes.v1 import votes_pb2, votes_pb2_grpc
from votemon.runtime import add_probes, configure_logging, serve_app, stop_event
from votemon.settings import Settings
from votemon.votes import FieldError, InvalidVotesError, new_vote_id, parse_votes

MAX_BODY_BYTES = 1024 * 1024

REQUESTS = Counter("votes_http_requests_total", "HTTP vote requests by status", ["status"])
VOTES_ACCEPTED = Counter("votes_accepted_total", "Votes answered 202: acknowledged by Kafka")
VOTES_SHED = Counter(
    "votes_shed_total", "Votes answered 503 at once because the front's in-flight limit was reached"
)
VOTES_IN_FLIGHT = Gauge("votes_in_flight", "Votes sent to the vote service and not yet answered")
REQUEST_SECONDS = Histogram(
    "votes_http_request_seconds",
    "Vote request latency, from body read to reply",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# The vote service did not confirm the votes, for a reason that a retry (same ids) may get past:
# a server restarting cancels or refuses calls, a broker away makes them time out.
_RETRY_STATUSES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def grpc_channel(settings: Settings) -> grpc.aio.Channel:
    """One long-lived channel. round_robin spreads calls over every address the target resolves to
    (a headless Service in the cluster), instead of pinning all calls to one server pod."""
    return grpc.aio.insecure_channel(
        settings.grpc_target,
        options=[
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.dns_min_time_between_resolutions_ms", int(settings.grpc_dns_min_resolution_seconds * 1e3)),
            ("grpc.max_send_message_length", 4 * MAX_BODY_BYTES),
        ],
    )


class Admission:
    """A bounded count of in-flight votes: what is over the limit is refused now, never queued.

    Counted in votes, not requests, since a batch of 1,000 costs the vote service and the broker
    1,000 times what a single vote does. A batch arriving when nothing is in flight is admitted
    whatever its size, so that a limit below the largest batch cannot refuse it forever.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._in_flight = 0

    def try_admit(self, votes: int) -> bool:
        if self._in_flight and self._in_flight + votes > self._limit:
            return False
        self._in_flight += votes
        VOTES_IN_FLIGHT.set(self._in_flight)
        return True

    def release(self, votes: int) -> None:
        self._in_flight -= votes
        VOTES_IN_FLIGHT.set(self._in_flight)


class Coalescer:
    """Gathers the single votes of concurrent requests into one CastBatch call.

    The first vote opens a window of `window` seconds; the batch goes when the window closes or
    holds `limit` votes. Every caller learns the outcome of the one call its vote was in: 202 only
    once the broker acknowledged the whole batch, as before.
    """

    def __init__(
        self, stub: votes_pb2_grpc.VoteServiceAsyncStub, window: float, limit: int, deadline: float
    ) -> None:
        self._stub = stub
        self._window = window
        self._limit = limit
        self._deadline = deadline
        self._pending: list[tuple[votes_pb2.Vote, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._calls: set[asyncio.Task[None]] = set()

    async def cast(self, vote: votes_pb2.Vote) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((vote, done))
        if len(self._pending) >= self._limit:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._window, self._flush)
        await done

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            call = asyncio.create_task(self._send(batch))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    async def _send(self, batch: list[tuple[votes_pb2.Vote, asyncio.Future[None]]]) -> None:
        request = votes_pb2.CastBatchRequest(votes=[vote for vote, _ in batch])
        waiting = [done for _, done in batch if not done.done()]
        try:
            await self._stub.CastBatch(request, timeout=self._deadline)
        except asyncio.CancelledError:
            for done in waiting:
                done.cancel()
            raise
        except Exception as error:  # every caller must learn the outcome, whatever it is
            for done in waiting:
                done.set_exception(error)
            return
        for done in waiting:
            done.set_result(None)


def retry_later(settings: Settings, reason: str, message: str, ids: list[str]) -> Response:
    """503 with the ids to send again and when: the client retries with the same ids."""
    return json_response(
        {"error": reason, "message": message, "ids": ids},
        503,
        headers={"Retry-After": str(settings.retry_after_seconds)},
    )


def shed(settings: Settings, ids: list[str]) -> Response:
    """The answer to votes over the in-flight limit: sent nowhere, to be retried with the same ids."""
    VOTES_SHED.inc(len(ids))
    return retry_later(
        settings,
        "overloaded",
        "too many votes in flight; nothing was sent; retry later with the same ids",
        ids,
    )


def cast_failed(settings: Settings, error: grpc.aio.AioRpcError, ids: list[str]) -> Response:
    """The answer to votes the vote service did not confirm: 503 with the ids when a retry may work."""
    log = structlog.get_logger()
    if error.code() in _RETRY_STATUSES:
        log.warning("votes not acknowledged", votes=len(ids), code=error.code().name)
        return retry_later(
            settings, "unavailable", "the votes were not confirmed; retry later with the same ids", ids
        )
    if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return error_response(400, "invalid_votes", error.details() or "invalid votes")
    log.error("gRPC call failed", code=error.code().name, details=error.details())
    return error_response(502, "bad_gateway", "the vote service failed")


def create_app(settings: Settings, channel: grpc.aio.Channel) -> Quart:
    app = Quart("votemon.front")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    votes_stub = votes_pb2_grpc.VoteServiceStub(channel)
    coalescer = Coalescer(
        votes_stub,
        settings.coalesce_window_ms / 1000,
        settings.coalesce_max_votes,
        settings.grpc_deadline_seconds,
    )
    admission = Admission(settings.front_max_inflight_votes)
    health_stub = health_pb2_grpc.HealthStub(channel)

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

    async def cast(votes: list[votes_pb2.Vote], batched: bool) -> None:
        deadline = settings.grpc_deadline_seconds
        if batched:
            await votes_stub.CastBatch(votes_pb2.CastBatchRequest(votes=votes), timeout=deadline)
        elif settings.coalesce_window_ms > 0:
            await coalescer.cast(votes[0])
        else:
            await votes_stub.Cast(votes_pb2.CastRequest(vote=votes[0]), timeout=deadline)

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
        ids = [vote.id or new_vote_id() for vote in parsed]
        votes = [vote.to_proto(vote_id) for vote, vote_id in zip(parsed, ids, strict=True)]
        if not admission.try_admit(len(votes)):
            return shed(settings, ids)
        try:
            await cast(votes, batched)
        except grpc.aio.AioRpcError as error:
            return cast_failed(settings, error, ids)
        finally:
            admission.release(len(votes))
        VOTES_ACCEPTED.inc(len(votes))
        return json_response({"accepted": len(votes), "ids": ids}, 202)

    @app.get("/")
    async def index() -> Response:
        """What the front is, for a person or a load balancer's default health check (GET /)."""
        return json_response({"service": "votemon front", "submit": "POST /grpc or POST /votes"}, 200)

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
        await serve_app(
            create_app(settings, channel),
            settings.front_bind,
            stopping,
            settings,
            drain_seconds=settings.front_drain_seconds,
        )
    finally:
        await channel.close()
    log.info("stopped")

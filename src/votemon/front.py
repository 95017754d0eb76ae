"""The HTTP front: validates votes, hands them to the gRPC server, and answers 202 once Kafka has them."""

from __future__ import annotations

import functools
import time
from typing import Any

import grpc
import orjson
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import Counter, Gauge, Histogram
from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from votemon.admission import Admission, ClientAdmission, IntegratorTokens, client_address
from votemon.catalogue import Catalogue
from votemon.coalescer import Coalescer
from votemon.http import error_response, json_response
from votemon.rpc.votes.v1 import votes_pb2, votes_pb2_grpc
from votemon.runtime import add_probes, configure_process, freeze_startup_objects, serve_app, stop_event
from votemon.settings import Settings
from votemon.stages import Stages
from votemon.votes import FieldError, InvalidVotesError, parse_votes

MAX_BODY_BYTES = 1024 * 1024

REQUESTS = Counter("votes_http_requests_total", "HTTP vote requests by status", ["status"])
VOTES_ACCEPTED = Counter("votes_accepted_total", "Votes answered 202: acknowledged by Kafka")
SHED = Counter(
    "votes_shed_requests_total",
    "Requests answered 503 at once, nothing of them sent: the front's or the vote service's "
    "in-flight limit was reached (requests, not votes: a body is not read when the limit is reached)",
)
THROTTLED = Counter(
    "votes_throttled_requests_total",
    "Requests answered 429 at once, nothing of them sent: their client was over its own in-flight share",
)
VOTES_IN_FLIGHT = Gauge("votes_in_flight", "Votes sent to the vote service and not yet answered")
REQUEST_SECONDS = Histogram(
    "votes_http_request_seconds",
    "Vote request latency, from body read to reply",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
STAGES = Stages(
    "front",
    "A vote request's stages: read_parse, admission, reply per request; coalescer_wait per coalesced "
    "vote; grpc_call per CastBatch call (a coalesced batch is one call)",
    ("read_parse", "admission", "coalescer_wait", "grpc_call", "reply"),
)

# The vote service did not confirm the votes, for a reason that a retry (same ids) may get past:
# a server restarting cancels or refuses calls, a broker away makes them time out.
_RETRY_STATUSES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.ABORTED,
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


def retry_later(settings: Settings, error: str, message: str, **extra: Any) -> Response:
    """503 and when to send again (Retry-After)."""
    return json_response(
        {"error": error, "message": message, **extra},
        503,
        headers={"Retry-After": str(settings.retry_after_seconds)},
    )


def shed(settings: Settings) -> Response:
    """The answer to votes refused before any was sent: 503 + Retry-After, without ids, since
    sending the same body again cannot count a vote twice."""
    SHED.inc()
    return retry_later(
        settings, "overloaded", "too many votes in flight; nothing was sent; send them again later"
    )


def throttled(settings: Settings) -> Response:
    """The answer to a client over its own share while the front still admits others' votes."""
    THROTTLED.inc()
    return json_response(
        {
            "error": "too_many_requests",
            "message": "this client has too many votes in flight; nothing was sent; send them again later",
        },
        429,
        headers={"Retry-After": str(settings.retry_after_seconds)},
    )


def cast_failed(settings: Settings, error: grpc.aio.AioRpcError, ids: list[str]) -> Response:
    """The answer to votes the vote service did not confirm: 503 with the ids when a retry may work."""
    log = structlog.get_logger()
    if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:  # the server's limit: nothing was sent
        return shed(settings)
    if error.code() in _RETRY_STATUSES:
        log.warning("votes not acknowledged", votes=len(ids), code=error.code().name)
        # the votes may have landed: sent again with the same ids, each is counted once
        message = "the votes were not confirmed; retry later with the same ids"
        return retry_later(settings, "unavailable", message, ids=ids)
    if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return error_response(400, "invalid_votes", error.details() or "invalid votes")
    log.error("gRPC call failed", code=error.code().name, details=error.details())
    return error_response(502, "bad_gateway", "the vote service failed")


class VoteGateway:
    """The front's way to the vote service: who may send what (integrator tokens, the catalogue),
    admission per client, then one CastBatch call per request, single votes of concurrent requests
    coalesced into one call."""

    def __init__(self, settings: Settings, channel: grpc.aio.Channel, catalogue: Catalogue) -> None:
        self._settings = settings
        self._catalogue = catalogue
        self._tokens = IntegratorTokens(settings.integrator_tokens)
        self._stub = votes_pb2_grpc.VoteServiceStub(channel)
        waited = functools.partial(STAGES.observe, "coalescer_wait")
        self._coalescer = Coalescer(
            self._send, settings.coalesce_max_calls, settings.coalesce_max_votes, waited
        )
        total = Admission(settings.front_max_inflight_votes, VOTES_IN_FLIGHT)
        self.admission = ClientAdmission(total, settings.front_client_max_inflight_votes)

    async def _send(self, votes: list[votes_pb2.Vote]) -> None:
        """The call is all or nothing, so its OK status is the confirmation: the reply's count is not
        needed (and a server of the previous version, met during a rollout, sends none)."""
        request = votes_pb2.CastBatchRequest(votes=votes)
        started = time.perf_counter()
        await self._stub.CastBatch(request, timeout=self._settings.grpc_deadline_seconds)
        STAGES.since("grpc_call", started)

    async def cast(self, votes: list[votes_pb2.Vote], batched: bool, client: str) -> Response:
        """Sends admitted votes and answers: 202 with their ids, or why not."""
        started = time.perf_counter()
        ids = [vote.id for vote in votes]
        if self.admission.client_over_share(client, len(votes)):
            return throttled(self._settings)
        if not self.admission.try_admit(client, len(votes)):
            return shed(self._settings)
        STAGES.since("admission", started)
        try:
            if batched:
                await self._send(votes)
            else:
                await self._coalescer.submit(votes[0])
            answered = time.perf_counter()
        except grpc.aio.AioRpcError as error:
            return cast_failed(self._settings, error, ids)
        finally:
            self.admission.release(client, len(votes))
        VOTES_ACCEPTED.inc(len(votes))
        response = json_response({"accepted": len(votes), "ids": ids}, 202)
        STAGES.since("reply", answered)
        return response

    async def submit(self) -> Response:
        """POST /grpc and /votes: the votes are validated here, once, and given their ids."""
        started = time.perf_counter()
        response = await self._submit()
        REQUESTS.labels(status=str(response.status_code)).inc()
        REQUEST_SECONDS.observe(time.perf_counter() - started)
        return response

    def _refusal_before_the_body(self, authorized: bool) -> Response | None:
        """What the headers and the front's load alone refuse, before any vote is parsed."""
        if request.mimetype != "application/json":
            return error_response(
                415, "unsupported_media_type", "send the vote as application/json", field="body"
            )
        if authorized and not self._authorized():
            return error_response(
                403, "invalid_token", "the integrator token is not valid", field="authorization"
            )
        if self.admission.total.full():
            return shed(self._settings)
        return None

    async def _submit(self) -> Response:
        authorized = bool(request.headers.get("Authorization"))
        refusal = self._refusal_before_the_body(authorized)
        started = time.perf_counter()
        body = await request.get_data(cache=False)
        if refusal is not None:
            # Read and dropped even so: hypercorn drops the keep-alive connection's next requests
            # when a response leaves the request's body unread ("Server disconnected").
            return refusal
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            return error_response(400, "malformed_json", f"the body is not valid JSON: {error}", field="body")
        try:
            parsed, batched = parse_votes(document)
        except InvalidVotesError as invalid:
            return invalid_votes_response(invalid.errors)
        limit = self._settings.front_anonymous_max_votes
        if len(parsed) > limit and not authorized:
            return json_response(
                {
                    "error": "token_required",
                    "message": f"an anonymous request carries at most {limit} votes; "
                    "larger batches need an integrator token (Authorization: Bearer <token>)",
                    "field": "authorization",
                },
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        unknown = self._catalogue.errors(parsed, batched)
        if unknown:
            return invalid_votes_response(unknown)
        forwarded = request.headers.getlist("X-Forwarded-For")
        client = client_address(request.remote_addr or "", forwarded, self._settings.front_trusted_proxy_hops)
        votes = [vote.to_proto() for vote in parsed]
        STAGES.since("read_parse", started)
        return await self.cast(votes, batched, client)

    def _authorized(self) -> bool:
        """The Authorization header holds a bearer token of an integrator."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self._tokens.valid(token.strip())


def create_app(settings: Settings, channel: grpc.aio.Channel, catalogue: Catalogue) -> Quart:
    app = Quart("votemon.front")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    gateway = VoteGateway(settings, channel, catalogue)
    health_stub = health_pb2_grpc.HealthStub(channel)

    async def grpc_ready() -> bool:
        try:
            reply = await health_stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    add_probes(app, grpc_ready, settings.votemon_version)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 413:
            return error_response(
                413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes", field="body"
            )
        return error_response(status, error.name.lower().replace(" ", "_"), error.description or error.name)

    @app.get("/")
    async def index() -> Response:
        """What the front is, for a person or a load balancer's default health check (GET /)."""
        return json_response({"service": "votemon front", "submit": "POST /grpc or POST /votes"}, 200)

    app.add_url_rule("/grpc", "grpc", gateway.submit, methods=["POST"])
    app.add_url_rule("/votes", "votes", gateway.submit, methods=["POST"])
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
    log = configure_process(settings, "front")
    stopping = stop_event()
    catalogue = Catalogue.load(settings.catalogue_file)
    channel = grpc_channel(settings)
    app = create_app(settings, channel, catalogue)
    freeze_startup_objects()
    log.info("serving", bind=settings.front_bind, grpc_target=settings.grpc_target)
    try:
        await serve_app(
            app,
            settings.front_bind,
            stopping,
            settings,
            drain_seconds=settings.front_drain_seconds,
        )
    finally:
        await channel.close()
    log.info("stopped")

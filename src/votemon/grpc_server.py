"""The gRPC server: takes votes and answers only once Kafka acknowledged them (acks=all)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import grpc
import structlog
from aiokafka.errors import KafkaError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import Counter, Gauge, Histogram

from votemon.admission import Admission
from votemon.catalogue import Catalogue
from votemon.kafka import Record, ReliableProducer
from votemon.rpc.votes.v1 import votes_pb2, votes_pb2_grpc
from votemon.runtime import configure_process, freeze_startup_objects, ops_app, serve_app, stop_event
from votemon.settings import Settings
from votemon.stages import Stages
from votemon.votes import MAX_BATCH, AcceptedVote, proto_errors, utc_now

SERVICE_NAME = "votes.v1.VoteService"

PRODUCED = Counter("votes_produced_total", "Votes acknowledged by the Kafka broker")
PRODUCE_FAILED = Counter("votes_produce_failed_total", "Votes refused because the broker did not acknowledge")
VOTES_IN_FLIGHT = Gauge("votes_server_in_flight", "Votes taken by the server and not yet acknowledged")
VOTES_REFUSED = Counter(
    "votes_server_refused_total", "Votes answered RESOURCE_EXHAUSTED: the server's in-flight limit"
)
PRODUCE_SECONDS = Histogram(
    "votes_produce_seconds",
    "Time from taking a request to the broker's acknowledgement of all its votes",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
STAGES = Stages(
    "grpc",
    "A CastBatch call's stages, per call: checks (votes, catalogue, admission), enqueue (stamped and "
    "queued in the producer), linger_ack (the producer's linger and the broker's acks=all answer)",
    ("checks", "enqueue", "linger_ack"),
)


class VoteService(votes_pb2_grpc.VoteServiceServicer):
    """Checks, stamps (accepted_at) and produces votes, keyed by band; answers how many Kafka took.

    The votes come with their ids: the front gives them (`VoteIn.to_proto`), and a vote without one
    is refused, so that an id is never made up here that the front's client does not know."""

    def __init__(self, producer: ReliableProducer, settings: Settings, catalogue: Catalogue) -> None:
        self._producer = producer
        self._settings = settings
        self._catalogue = catalogue
        self._admission = Admission(settings.grpc_max_inflight_votes, VOTES_IN_FLIGHT)
        self._log = structlog.get_logger()

    async def Cast(  # noqa: N802 - the name is the RPC's
        self, request: votes_pb2.CastRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> votes_pb2.CastResponse:
        return votes_pb2.CastResponse(accepted=await self._produce([request.vote], context))

    async def CastBatch(  # noqa: N802 - the name is the RPC's
        self, request: votes_pb2.CastBatchRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> votes_pb2.CastBatchResponse:
        if not 0 < len(request.votes) <= MAX_BATCH:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"a batch holds 1 to {MAX_BATCH} votes")
        return votes_pb2.CastBatchResponse(accepted=await self._produce(request.votes, context))

    async def _produce(
        self, votes: Sequence[votes_pb2.Vote], context: grpc.aio.ServicerContext[object, object]
    ) -> int:
        started = time.perf_counter()
        errors = proto_errors(votes) or self._catalogue.errors(votes)
        if errors:
            details = "; ".join(f"votes[{e.index}].{e.field}: {e.message}" for e in errors)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, details)
        if not self._admission.try_admit(len(votes)):
            VOTES_REFUSED.inc(len(votes))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many votes in flight; retry later")
        try:
            return await self._send(votes, context, STAGES.since("checks", started))
        finally:
            self._admission.release(len(votes))

    async def _send(
        self,
        votes: Sequence[votes_pb2.Vote],
        context: grpc.aio.ServicerContext[object, object],
        started: float,
    ) -> int:
        now = utc_now()
        accepted = [AcceptedVote.from_proto(vote, now) for vote in votes]
        with PRODUCE_SECONDS.time():
            try:
                records: list[Record] = [(vote.kafka_key(), vote.kafka_value(), []) for vote in accepted]
                queued = await asyncio.wait_for(
                    self._producer.send_all(self._settings.votes_topic, records),
                    timeout=self._settings.produce_timeout_seconds,
                )
            except (KafkaError, TimeoutError) as error:
                PRODUCE_FAILED.inc(len(accepted))
                self._log.warning("broker did not acknowledge", votes=len(accepted), error=repr(error))
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE, "the Kafka broker did not acknowledge the votes"
                )
        STAGES.observe("enqueue", queued - started)
        STAGES.since("linger_ack", queued)
        PRODUCED.inc(len(accepted))
        return len(accepted)


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """Connections end after a maximum age (GOAWAY, then a grace for in-flight calls): gRPC clients
    resolve DNS again only when a connection ends, so this is how the fronts find new replicas."""
    return [
        ("grpc.so_reuseport", 0),
        ("grpc.max_connection_age_ms", int(settings.grpc_max_connection_age_seconds * 1000)),
        ("grpc.max_connection_age_grace_ms", int(settings.grpc_max_connection_age_grace_seconds * 1000)),
    ]


async def run(settings: Settings) -> None:
    log = configure_process(settings, "grpc-server")
    stopping = stop_event()
    catalogue = Catalogue.load(settings.catalogue_file)
    producer = ReliableProducer(settings, "grpc-server")
    await producer.start()
    health_servicer = health.aio.HealthServicer()
    server = grpc.aio.server(options=server_options(settings))
    votes_pb2_grpc.add_VoteServiceServicer_to_server(VoteService(producer, settings, catalogue), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(settings.grpc_bind) == 0:
        raise SystemExit(f"cannot listen on {settings.grpc_bind}")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def ready() -> bool:
        return not stopping.is_set()

    freeze_startup_objects()
    log.info("serving", bind=settings.grpc_bind, topic=settings.votes_topic)
    ops = asyncio.create_task(
        serve_app(
            ops_app("grpc-server", ready, settings.votemon_version),
            settings.grpc_metrics_bind,
            stopping,
            settings,
        )
    )
    await stopping.wait()
    log.info("stopping: finishing in-flight calls")
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.stop(grace=settings.shutdown_grace_seconds)
    await producer.stop()
    await ops
    log.info("stopped")

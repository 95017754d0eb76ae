"""The one settings object, read from the environment; every default targets the local stack. Also
the registry of the pipeline's services, which `votemon`, the local stack, the tests and the bench read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Seconds = Annotated[float, Field(gt=0)]  # a duration or timeout: zero would mean "never wait"
Count = Annotated[int, Field(ge=1)]


class Settings(BaseSettings):
    """Every knob of every service. Field names are the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # A producing service that starts before Kafka answers (a node's restart, Kafka's own rollout)
    # waits this long for it, unready, before it stops naming Kafka: crashing at once would put it in
    # the kubelet's restart back-off (10 s, 20 s, 40 s...) after Kafka is back. Below the time the
    # liveness probes give a grpc-server that is not serving yet (3 x 10 s).
    kafka_startup_wait_seconds: Seconds = 20.0
    # Kafka's users: one file per user named after it, holding its password (in Kubernetes, each
    # service mounts only its own Secret here, made by Strimzi from base/kafka/users.yaml); each
    # service logs in as its own name with SCRAM-SHA-512. Unset: no authentication.
    kafka_users_dir: Path | None = None
    # The CA that signs the brokers' certificates (Strimzi's votes-cluster-ca-cert); set: TLS.
    kafka_ca_file: Path | None = None
    votes_topic: str = "votes-submitted"
    dead_letter_topic: str = "votes-dead-letter"
    consumer_group: str = "vote-counter"
    topic_partitions: Count = 6
    topic_retention_ms: int = 2 * 60 * 60 * 1000

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: SecretStr | None = None
    # The Redis users' passwords, one file per user named after it (base/redis/users.acl): consumer
    # and results log in as their own user when set (in Kubernetes, each mounts only its own Secret
    # here); unset, as the default user with redis_password.
    redis_users_dir: Path | None = None
    mongo_uri: str = "mongodb://127.0.0.1:27017/"
    # MongoDB's credentials: the files `username` and `password` here (in Kubernetes, the consumer's
    # mounted Secret: mongodb-consumer in gke, mongodb-auth in dev); unset, no authentication (the
    # local FerretDB).
    mongo_credentials_dir: Path | None = None
    mongo_database: str = "votes"

    front_bind: str = "127.0.0.1:8080"
    grpc_bind: str = "127.0.0.1:50051"
    grpc_target: str = "127.0.0.1:50051"
    grpc_metrics_bind: str = "127.0.0.1:9101"
    consumer_metrics_bind: str = "127.0.0.1:9102"
    results_bind: str = "127.0.0.1:8081"

    grpc_deadline_seconds: Seconds = 5.0
    # The server closes (GOAWAY) each client connection after this age, so that clients resolve the
    # headless Service again and find grpc-server pods added since; in-flight calls get the grace.
    grpc_max_connection_age_seconds: Seconds = 30.0
    grpc_max_connection_age_grace_seconds: Seconds = 10.0
    # The front resolves GRPC_TARGET again at most this often. gRPC's own default, 30 s, left a front
    # whose grpc-server pod was replaced (a rollout) with no server to call for up to 30 s.
    grpc_dns_min_resolution_seconds: Seconds = 1.0
    produce_timeout_seconds: Seconds = 4.0
    # The gRPC server holds at most this many votes waiting for the broker and answers more
    # RESOURCE_EXHAUSTED at once (the front: 503 + Retry-After), so that however many fronts call
    # it, its memory stays bounded (grpc.aio's own maximum_concurrent_rpcs queues calls, it does not
    # refuse them). Above what the gke fronts can send together (3 x FRONT_MAX_INFLIGHT_VOTES, even
    # if round robin sent them all to one server), so that it only binds beyond them.
    grpc_max_inflight_votes: Count = 7000
    # 0: a batch goes as soon as no produce request of ours is in flight to its broker (aiokafka
    # sends one at a time), so records gather only while the broker is busy (docs/performance.md)
    producer_linger_ms: int = Field(default=0, ge=0)
    # The front's single votes go at once while fewer CastBatch calls than this are under way, and
    # gather into the next call while they are (votemon.coalescer)
    coalesce_max_calls: int = Field(default=2, ge=1)
    coalesce_max_votes: int = Field(default=500, ge=1, le=1000)
    consumer_max_records: Count = 2000
    # A vote id counted less than this long ago is not counted again (README: "Dedupe window").
    dedup_window_seconds: int = Field(default=120, ge=1, le=24 * 3600)
    rate_window_seconds: int = Field(default=3600, ge=60)
    shutdown_grace_seconds: Seconds = 10.0
    # The front keeps serving this long after SIGTERM with /readyz failing, so that a load balancer
    # stops sending before the connections close (after the pod's preStop sleep in Kubernetes).
    front_drain_seconds: float = Field(default=5.0, ge=0)
    # Idle HTTP keep-alive: longer than the Google load balancer's fixed 600 s backend keep-alive,
    # so that the server never closes a connection the load balancer is about to reuse (a 502).
    keep_alive_timeout_seconds: Seconds = 620.0
    retry_after_seconds: int = Field(default=2, ge=1)
    # The front admits at most this many votes at once (sent to the vote service, not yet answered);
    # the excess is answered 503 + Retry-After at once instead of queueing. The sustained rate times
    # a latency budget: bench.overload's closed loop reaches the batched ceiling (7,000-18,000 votes/s
    # on the shared 2-core machine) with 800 votes in flight (8 x 100); 1,000 keeps it with a margin
    # and bounds an admitted vote's wait to ~80 ms at 12,000 votes/s (Little's law). Measured at 2x
    # for 60 s: 5,000 gave accepted p99 1.3-10 s; 1,500, 1.5 s; 1,000, 0.62 s; 600, 0.7 s and half
    # the throughput. A lone batch is admitted even when it is larger. Since issue 26 that 1,000 is
    # the per-client limit below (bench.overload is one client), and the front's is twice it.
    front_max_inflight_votes: Count = 2000
    # Per client (see front_trusted_proxy_hops): over this many votes in flight, a client's further
    # requests are answered 429 + Retry-After, so that one client sending big batches at full speed
    # cannot take the whole front_max_inflight_votes (issue 26). Its first request is admitted
    # whatever its size, so a full batch (1,000) always fits; front_max_inflight_votes is twice it,
    # so one client leaves at least half of the front to the others.
    front_client_max_inflight_votes: Count = 1000
    # How many proxies in front of the front append to X-Forwarded-For: the client is the address
    # the outermost of them saw, that many entries from the right (Google's external Application
    # Load Balancer appends "<client>, <load balancer>": 2). 0: the TCP peer. Entries further left
    # are whatever the client sent, and never name it.
    front_trusted_proxy_hops: int = Field(default=0, ge=0, le=10)
    # An anonymous request carries at most this many votes; more need an integrator token.
    front_anonymous_max_votes: int = Field(default=10, ge=1, le=1000)
    # Bearer tokens of integrators, comma-separated, from the Secret votemon-integrators (never in git).
    integrator_tokens: SecretStr | None = None
    # The bands and albums that can be voted for (base/pipeline-config/catalogue.json; in the
    # cluster the ConfigMap votemon-catalogue mounted at /etc/votemon/catalogue).
    catalogue_file: Path = Path("base/pipeline-config/catalogue.json")
    # /api/totals lists at most this many bands and albums, the rest summed as "other".
    totals_top: int = Field(default=50, ge=1, le=500)
    # The results service's stream (/api/stream): one Redis read per tick per process, whatever the
    # number of viewers. A stream ends itself after stream_max_seconds and the browser reconnects:
    # below Cloud Run's request timeout (cloudrun/results.yaml, 300 s), so it is never cut there.
    stream_tick_seconds: Seconds = 1.0
    stream_max_seconds: Seconds = 240.0
    log_level: str = "info"
    # Which build this is, as /healthz reports it: the image bakes it in (the Dockerfile's build
    # argument VOTEMON_VERSION, "sha-<commit>" from CI and cluster/image.sh), so a rollout can be
    # seen reaching each pod.
    votemon_version: str = Field(default="dev", min_length=1, max_length=80)


@dataclass(frozen=True)
class ServiceSpec:
    """One pipeline service: runs as `votemon <name>` (the module's `run(settings)`), and is ready
    when `GET /readyz` on the address in its Settings field `probe_bind` answers 200."""

    name: str
    module: str
    probe_bind: str

    def base_url(self, settings: Settings) -> str:
        """Where its probes (and, for front and results, its API) answer."""
        return f"http://{getattr(settings, self.probe_bind)}"


READY_PATH = "/readyz"

# In start order: each service finds the one it calls already listening; stopped in reverse.
SERVICES = (
    ServiceSpec("grpc-server", "votemon.grpc_server", "grpc_metrics_bind"),
    ServiceSpec("consumer", "votemon.consumer", "consumer_metrics_bind"),
    ServiceSpec("results", "votemon.results", "results_bind"),
    ServiceSpec("front", "votemon.front", "front_bind"),
)
SERVICE = {spec.name: spec for spec in SERVICES}

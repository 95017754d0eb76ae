"""The gRPC server: health, validation, and client-side round robin over several server replicas."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.headless_dns import HeadlessDns
from tests.support import service_metric
from votemon.dev.eventually import eventually
from votemon.dev.pipeline import Pipeline, unique_band, vote
from votemon.dev.processes import Service, free_port
from votemon.rpc.votes.v1 import votes_pb2, votes_pb2_grpc


@pytest.fixture
def channel(pipeline: Pipeline) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(pipeline.settings.grpc_target) as channel:
        yield channel


def test_standard_health_service_reports_serving(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "votes.v1.VoteService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_cast_answers_the_count_once_kafka_has_the_vote_under_the_fronts_id(
    pipeline: Pipeline, channel: grpc.Channel
) -> None:
    stub = votes_pb2_grpc.VoteServiceStub(channel)
    band = unique_band()
    vote_id = f"grpc-{uuid.uuid4().hex}"
    reply = stub.Cast(
        votes_pb2.CastRequest(vote=votes_pb2.Vote(id=vote_id, name=band, album="A", year=1997, rank="9.5")),
        timeout=5,
    )
    assert reply.accepted == 1
    assert pipeline.wait_band_count(band) == 1
    logs = pipeline.http.get(f"{pipeline.results}/api/logs", params={"limit": 100}).json()["logs"]
    assert vote_id in {entry["id"] for entry in logs}


VALID: dict[str, Any] = {"id": "grpc-1", "name": "a", "album": "b", "year": 1997, "rank": "1"}


@pytest.mark.parametrize(
    ("votes", "named"),
    [
        ([], "a batch holds 1 to 1000 votes"),
        ([VALID, {**VALID, "year": 1800}], "votes[1].year"),
        ([{**VALID, "name": ""}], "votes[0].name"),
        ([{**VALID, "rank": "1.234"}], "votes[0].rank"),
        ([{**VALID, "rank": "9.50"}], "votes[0].rank"),
        ([{**VALID, "id": ""}], "votes[0].id"),
    ],
    ids=["empty", "year", "name", "rank", "rank-not-shortest", "id-missing"],
)
def test_malformed_batches_are_refused_naming_the_field_and_nothing_is_produced(
    pipeline: Pipeline, channel: grpc.Channel, votes: list[dict[str, Any]], named: str
) -> None:
    """The server is a trust boundary: it checks each vote's fields (votemon.votes.proto_errors),
    refuses a vote without the id the front gives, and sends nothing of a batch with one bad vote."""
    produced = pipeline.produced()
    request = votes_pb2.CastBatchRequest(votes=[votes_pb2.Vote(**vote) for vote in votes])
    with pytest.raises(grpc.RpcError) as refused:
        votes_pb2_grpc.VoteServiceStub(channel).CastBatch(request, timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert named in (refused.value.details() or "")
    assert pipeline.produced() == produced


def produced_by(server: Service) -> float:
    return service_metric(server, "votes_produced_total")


def started_alone(pipeline: Pipeline, logs: Path, **settings: Any) -> Service:
    """A grpc-server of its own (its own ports and log), with `settings` over the pipeline's."""
    binds = {"grpc_bind": f"127.0.0.1:{free_port()}", "grpc_metrics_bind": f"127.0.0.1:{free_port()}"}
    return Service("grpc-server", pipeline.settings.model_copy(update={**binds, **settings}), logs).start()


def test_the_front_spreads_calls_over_every_server_address(pipeline: Pipeline, tmp_path: Path) -> None:
    """What a headless Service gives the front in the cluster: several addresses behind one target.
    With round_robin every server replica takes calls; a plain ClusterIP would pin them to one."""
    servers = [started_alone(pipeline, tmp_path / f"server-{n}") for n in range(2)]
    target = "ipv4:" + ",".join(s.settings.grpc_bind for s in servers)
    front = Service(
        "front",
        pipeline.settings.model_copy(
            update={"grpc_target": target, "front_bind": f"127.0.0.1:{free_port()}"}
        ),
    )
    try:
        for server in servers:
            server.wait_ready()
        front.start().wait_ready()
        band = unique_band("RoundRobin")
        for _ in range(20):
            assert pipeline.http.post(f"{front.base_url}/grpc", json=vote(band)).status_code == 202
        shares = [produced_by(server) for server in servers]
        assert sum(shares) == 20
        assert all(share >= 5 for share in shares), shares
        assert pipeline.wait_band_count(band) == 20
    finally:
        assert front.stop() == 0
        assert [server.stop() for server in servers] == [0, 0]


def test_a_server_added_after_the_front_connected_takes_calls_within_the_connection_age(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """A replica PR adds a grpc-server pod: the headless Service's DNS answer grows while the front
    keeps its channel. The servers end connections at their maximum age; the front then resolves
    again and the new server takes calls. Without a maximum age it never would."""
    age, grace, resolution = 2.0, 3.0, 1.0
    port = free_port()
    dns_server = HeadlessDns("grpc-server-headless.so1-p2.test")

    def server(address: str) -> Service:
        return started_alone(
            pipeline,
            tmp_path / address,
            grpc_bind=f"{address}:{port}",
            grpc_max_connection_age_seconds=age,
            grpc_max_connection_age_grace_seconds=grace,
        )

    with dns_server.running():
        servers = [server(address) for address in ("127.0.0.2", "127.0.0.3")]
        dns_server.addresses = ["127.0.0.2", "127.0.0.3"]
        front = Service(
            "front",
            pipeline.settings.model_copy(
                update={
                    "grpc_target": dns_server.target(port),
                    "front_bind": f"127.0.0.1:{free_port()}",
                    "grpc_dns_min_resolution_seconds": resolution,
                }
            ),
        )
        try:
            for each in servers:
                each.wait_ready()
            front.start().wait_ready()
            band = unique_band("ScaleUp")
            sent = 0
            for _ in range(10):
                assert pipeline.http.post(f"{front.base_url}/grpc", json=vote(band)).status_code == 202
                sent += 1
            servers.append(server("127.0.0.4").wait_ready())
            dns_server.addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]

            def new_server_took_a_call() -> bool:
                nonlocal sent
                if produced_by(servers[2]) > 0:
                    return True
                assert pipeline.http.post(f"{front.base_url}/grpc", json=vote(band)).status_code == 202
                sent += 1
                return False

            # every connection reaches its age (+10% jitter), its grace ends, the front resolves again
            within = age * 1.1 + grace + resolution + 5
            eventually(new_server_took_a_call, "the new server took no call", within=within, interval=0)
            assert sum(produced_by(each) for each in servers) == sent
            assert pipeline.wait_band_count(band) == sent
        finally:
            assert front.stop() == 0
            assert [each.stop() for each in servers] == [0] * len(servers)


class LateBroker:
    """A Kafka address that refuses connections until `open()`, then relays each to the stack's broker:
    a Kafka that comes up after the process that needs it (the broker's metadata then sends the client
    to the broker itself)."""

    def __init__(self, broker: str) -> None:
        host, port = broker.rsplit(":", 1)
        self.broker = (host, int(port))
        self.address = f"127.0.0.1:{free_port()}"
        self._server: socketserver.ThreadingTCPServer | None = None

    def open(self) -> None:
        broker = self.broker

        class Relay(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with socket.create_connection(broker) as upstream:
                    back = threading.Thread(target=relay, args=(upstream, self.request), daemon=True)
                    back.start()
                    relay(self.request, upstream)
                    back.join()

        host, port = self.address.rsplit(":", 1)
        self._server = socketserver.ThreadingTCPServer((host, int(port)), Relay)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def relay(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)


def test_a_server_started_before_kafka_waits_for_it_then_serves(pipeline: Pipeline, tmp_path: Path) -> None:
    """A pod started before Kafka answers (the node restarted, Kafka rolling) waits for it, unready,
    instead of crashing into the kubelet's restart back-off."""
    broker = LateBroker(pipeline.settings.kafka_bootstrap_servers)
    server = started_alone(pipeline, tmp_path, kafka_bootstrap_servers=broker.address)
    try:
        eventually(lambda: "waiting for Kafka" in server.log_tail(), "the server waits for Kafka", within=15)
        broker.open()
        server.wait_ready()
        band = unique_band("LateKafka")
        with grpc.insecure_channel(server.settings.grpc_bind) as channel:
            reply = votes_pb2_grpc.VoteServiceStub(channel).Cast(
                votes_pb2.CastRequest(
                    vote=votes_pb2.Vote(
                        id=f"late-{uuid.uuid4().hex}", name=band, album="A", year=1997, rank="9"
                    )
                ),
                timeout=5,
            )
        assert reply.accepted == 1
        assert pipeline.wait_band_count(band) == 1
    finally:
        assert server.stop() == 0
        broker.close()


def test_a_server_whose_kafka_never_answers_stops_naming_it(pipeline: Pipeline, tmp_path: Path) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    server = started_alone(
        pipeline, tmp_path, kafka_bootstrap_servers=nowhere, kafka_startup_wait_seconds=2.0
    )
    assert server.process is not None
    assert server.process.wait(timeout=30) == 1, "it stops on its own, after the wait"
    said = server.log_path.read_text()
    assert f"Kafka at {nowhere} did not answer user grpc-server within 2 s" in said, said
    assert "waiting for Kafka" in said and "Traceback" not in said, said

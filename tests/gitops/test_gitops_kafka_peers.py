"""Who may open a connection to Kafka's listener (Strimzi makes its NetworkPolicy from these peers):
the two services that use it and, on GKE, KEDA's operator, which reads the consumer group's lag.
Not the rest of the keda namespace."""

from __future__ import annotations

import pytest

from votemon.gitops import tree

SERVICES = [
    {"podSelector": {"matchLabels": {"app.kubernetes.io/name": name}}} for name in ("grpc-server", "consumer")
]
KEDA_OPERATOR = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
    "podSelector": {"matchLabels": {"app": "keda-operator"}},
}


def listener_peers(env: str) -> list[tree.Obj]:
    (kafka,) = [obj for obj in tree.env_objects(env) if obj["kind"] == "Kafka"]
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    peers: list[tree.Obj] = listener["networkPolicyPeers"]
    return peers


@pytest.mark.parametrize(("env", "expected"), [("dev", SERVICES), ("gke", [*SERVICES, KEDA_OPERATOR])])
def test_kafka_is_reached_by_its_two_services_and_on_gke_by_keda_s_operator_alone(
    env: str, expected: list[tree.Obj]
) -> None:
    assert listener_peers(env) == expected

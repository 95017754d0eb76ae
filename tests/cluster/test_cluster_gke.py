"""gke under a real Argo CD, without the operators' controllers (their charts are out of reach
here): every Application syncs, and what waits is what waits on an operator."""

from __future__ import annotations

import pytest

from tests.cluster.cluster_support import CHILDREN, Cluster

pytestmark = pytest.mark.cluster
# Kinds whose health only an operator's controller (or a cloud) can make Healthy.
OPERATED = {
    "Kafka",
    "KafkaNodePool",
    "KafkaTopic",
    "KafkaUser",
    "ExternalSecret",
    "SecretStore",
    "ScaledObject",
    "Gateway",
    "HTTPRoute",
    "PodMonitoring",
    "Service",
}


def test_every_gke_application_syncs(gke: Cluster) -> None:
    root = gke.application("so1-p2-gke")["status"]
    assert root["sync"]["status"] == "Synced"
    revision = gke.served_revision()
    for name in CHILDREN:
        status = gke.synced_at(name, revision)
        waiting = [
            (r["kind"], r["name"], r["health"].get("message", ""))
            for r in status["resources"]
            if r.get("health", {}).get("status") not in (None, "Healthy")
        ]
        assert {kind for kind, _, _ in waiting} <= OPERATED, waiting


@pytest.mark.parametrize("app", CHILDREN)
def test_the_argocd_cli_sees_gke_synced_and_no_diff(gke: Cluster, app: str) -> None:
    assert "Synced to" in gke.argocd("app", "get", app)
    assert gke.argocd("app", "diff", app) == ""

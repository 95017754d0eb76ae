"""Health that means what it says, locally as on GKE: the operators' resources get the status their
controllers would write (cluster/operator-stages.yaml), so gke's root gates each wave on health
here too. A resource that is not ready is reported Degraded and holds the next wave until it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.cluster.cluster_support import CHILDREN, Cluster, eventually

pytestmark = pytest.mark.cluster

ROOT_APP = "so1-p2-gke"
NOT_READY = "votemon.dev/not-ready"  # cluster/operator-stages.yaml drives a resource so annotated not-ready
WAVE = "argocd.argoproj.io/sync-wave"


def health(cluster: Cluster, app: str) -> str:
    status: str = cluster.application(app).get("status", {}).get("health", {}).get("status", "")
    return status


def test_every_wave_is_synced_and_healthy_under_the_gated_root(gke: Cluster) -> None:
    root = gke.application(ROOT_APP)["status"]
    assert (root["sync"]["status"], root["health"]["status"]) == ("Synced", "Healthy")
    for app in CHILDREN:
        resources = gke.synced_at(app, gke.served_revision())["resources"]
        unhealthy = [
            (r["kind"], r["name"], r["health"])
            for r in resources
            if r.get("health", {}).get("status") not in (None, "Healthy")
        ]
        assert unhealthy == [], (app, unhealthy)


@pytest.fixture
def kafka_not_ready(gke: Cluster) -> Iterator[Callable[[], None]]:
    """The Kafka cluster, driven to what Strimzi reports when it is not ready; call the fixture's
    value to make it ready again (which also happens after the test, whatever it did)."""

    def ready_again() -> None:
        gke.kubectl("annotate", "kafka", "votes", "-n", "so1-p2", f"{NOT_READY}-")

    gke.kubectl(
        "annotate", "kafka", "votes", "-n", "so1-p2", f"{NOT_READY}=brokers unreachable", "--overwrite"
    )
    try:
        yield ready_again
    finally:
        if NOT_READY in gke.get("kafka", "votes")["metadata"].get("annotations", {}):
            ready_again()


def test_a_degraded_operator_resource_makes_its_wave_degraded_until_healthy(
    gke: Cluster, kafka_not_ready: Callable[[], None]
) -> None:
    """The operators' stand-in reports a Kafka that is not ready as Argo CD's Strimzi health check
    reads it: data turns Degraded with the operator's message, and Healthy again once it is ready.
    (That the root then holds its next wave is not tested here: a root re-sync after a deleted child
    syncs only the missing child, docs/operator.md.)"""

    def data_degraded() -> None:
        assert health(gke, "data") == "Degraded"

    eventually(data_degraded, timeout=120)
    assert "Degraded" in gke.argocd("app", "get", "data")
    [kafka] = [r for r in gke.application("data")["status"]["resources"] if r["kind"] == "Kafka"]
    assert kafka["health"] == {"status": "Degraded", "message": "brokers unreachable"}, kafka

    kafka_not_ready()  # Strimzi reports the cluster ready again

    def data_healthy() -> None:
        assert health(gke, "data") == "Healthy"

    eventually(data_healthy, timeout=180)

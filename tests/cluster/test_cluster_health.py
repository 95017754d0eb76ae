"""Health that means what it says, locally as on GKE: the operators' resources get the status their
controllers would write (cluster/operator-stages.yaml) and dev's HPA reads metrics-server
(cluster/metrics-server.sh), so every root gates each wave on health here too. A resource that is
not ready is reported Degraded and holds the next wave until it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.cluster.cluster_support import CHILDREN, Cluster, GitCheckout, Obj, eventually, unhealthy

pytestmark = pytest.mark.cluster

ROOT_APP = "so1-p2-gke"
DEV_ROOT = "so1-p2-dev"
NOT_READY = "votemon.dev/not-ready"  # cluster/operator-stages.yaml drives a resource so annotated not-ready
WAVE = "argocd.argoproj.io/sync-wave"


def health(cluster: Cluster, app: str) -> str:
    status: str = cluster.application(app).get("status", {}).get("health", {}).get("status", "")
    return status


def test_every_wave_is_synced_and_healthy_under_the_gated_root(gke: Cluster) -> None:
    root = gke.application(ROOT_APP)["status"]
    assert (root["sync"]["status"], root["health"]["status"]) == ("Synced", "Healthy")
    for app in CHILDREN:
        assert unhealthy(gke.synced_at(app, gke.served_revision())) == [], app


@pytest.fixture
def kafka_not_ready(cluster: Cluster) -> Iterator[Callable[[], None]]:
    """The Kafka cluster of the environment the test bootstrapped, driven to what Strimzi reports
    when it is not ready; call the fixture's value to make it ready again (which also happens after
    the test, whatever it did)."""

    def ready_again() -> None:
        cluster.kubectl("annotate", "kafka", "votes", "-n", "so1-p2", f"{NOT_READY}-")

    cluster.kubectl(
        "annotate", "kafka", "votes", "-n", "so1-p2", f"{NOT_READY}=brokers unreachable", "--overwrite"
    )
    try:
        yield ready_again
    finally:
        if NOT_READY in cluster.get("kafka", "votes")["metadata"].get("annotations", {}):
            ready_again()


def test_a_degraded_operator_resource_makes_its_wave_degraded_until_healthy(
    gke: Cluster, kafka_not_ready: Callable[[], None]
) -> None:
    """The operators' stand-in reports a Kafka that is not ready as Argo CD's Strimzi health check
    reads it: data turns Degraded with the operator's message, and Healthy again once it is ready."""

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


def test_a_degraded_wave_holds_the_next_one_until_healthy(
    dev: Cluster, checkout: GitCheckout, kafka_not_ready: Callable[[], None]
) -> None:
    """dev's root gates each wave on health, as on GKE. A commit that changes every child (here an
    annotation on each Application, in apps/dev) makes the root sync all its waves again; while Kafka
    is not ready, data (wave 1) is Degraded: the root's sync stops there, and retries, leaving
    pipeline (wave 2) and observability (wave 3) at the previous commit. Once Kafka is ready, the
    root's retry completes every wave."""

    def data_degraded() -> None:
        assert health(dev, "data") == "Degraded"

    eventually(data_degraded, timeout=120)
    mark = "votemon.test/root-commit"
    checkout.run("kustomize", "edit", "add", "annotation", f"{mark}:held", within="apps/dev")
    revision = checkout.commit_and_push("apps/dev: annotate every child Application")
    dev.refresh(DEV_ROOT)

    def annotated(app: str) -> bool:
        return mark in dev.application(app)["metadata"].get("annotations", {})

    def held_at_data() -> Obj:
        operation: Obj = dev.application(DEV_ROOT)["status"].get("operationState", {})
        assert operation.get("operation", {}).get("sync", {}).get("revision") == revision, operation
        assert annotated("data"), "wave 1 is applied"
        assert operation.get("retryCount", 0) >= 1, operation
        return operation

    operation = eventually(held_at_data, timeout=180)
    applied = [app for app in ("pipeline", "observability") if annotated(app)]
    assert applied == [], f"a wave after the Degraded one was applied: {applied} ({operation.get('message')})"
    resources = {r["name"]: r for r in dev.application(DEV_ROOT)["status"]["resources"]}
    assert {app: resources[app]["status"] for app in ("pipeline", "observability")} == dict.fromkeys(
        ("pipeline", "observability"), "OutOfSync"
    )
    assert health(dev, DEV_ROOT) == "Degraded"

    kafka_not_ready()  # Strimzi reports the cluster ready again: the root's retry completes every wave

    def all_waves_done() -> None:
        assert all(annotated(app) for app in CHILDREN)
        assert all(health(dev, app) == "Healthy" for app in CHILDREN)
        root = dev.application(DEV_ROOT)["status"]
        assert (root["sync"]["status"], root["health"]["status"]) == ("Synced", "Healthy"), root.get(
            "operationState"
        )
        assert root["operationState"]["phase"] == "Succeeded", root["operationState"]

    eventually(all_waves_done, timeout=300)

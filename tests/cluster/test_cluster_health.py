"""Health that means what it says, locally as on GKE: the operators' resources get the status their
controllers would write (cluster/operator-stages.yaml), so gke's root gates each wave on health
here too. A resource that is not ready is reported Degraded and holds the next wave until it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.cluster.cluster_support import CHILDREN, Cluster, Obj, eventually

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


def data_result(root: Obj) -> Obj | None:
    results = root.get("status", {}).get("operationState", {}).get("syncResult", {}).get("resources", [])
    return next((r for r in results if r["kind"] == "Application" and r["name"] == "data"), None)


@pytest.mark.xfail(
    strict=True,
    reason="seen 2026-12-02: the root's auto-sync after a child is deleted syncs only the missing child"
    " (its syncResult lists observability alone), so no wave runs and nothing is held; the test must"
    " start a full re-sync of the root's waves instead (docs/operator.md, what is left)",
)
def test_a_degraded_resource_holds_the_next_wave_until_healthy(
    gke: Cluster, kafka_not_ready: Callable[[], None]
) -> None:
    def data_degraded() -> None:
        assert health(gke, "data") == "Degraded"

    eventually(data_degraded, timeout=120)
    assert "Degraded" in gke.argocd("app", "get", "data")
    [kafka] = [r for r in gke.application("data")["status"]["resources"] if r["kind"] == "Kafka"]
    assert kafka["health"] == {"status": "Degraded", "message": "brokers unreachable"}, kafka
    # The root re-syncs its waves when a child goes missing: wave 1 (data) is Degraded, so the sync
    # stops there and wave 3 (observability) is not created again.
    gke.argocd("app", "delete", "observability", "--cascade=false", "--yes", "--wait")
    gke.refresh(ROOT_APP)

    def held_at_data() -> None:
        result = data_result(gke.application(ROOT_APP))
        assert result is not None and result.get("hookPhase") == "Failed", result
        assert "brokers unreachable" in result.get("message", ""), result

    eventually(held_at_data, timeout=180)
    missing = gke.run("kubectl", "get", "application", "observability", "-n", "argocd", "--ignore-not-found")
    assert missing == "", "a wave after the Degraded one started"
    assert health(gke, ROOT_APP) == "Degraded"

    kafka_not_ready()  # Strimzi reports the cluster ready again: the root's retry completes every wave

    def all_back() -> None:
        assert health(gke, "data") == "Healthy"
        assert health(gke, "observability") == "Healthy"
        root = gke.application(ROOT_APP)["status"]
        assert (root["sync"]["status"], root["health"]["status"]) == ("Synced", "Healthy"), root.get(
            "operationState"
        )

    eventually(all_back, timeout=420)

"""dev under a real Argo CD: the root app-of-apps syncs through its waves, and what operators do
through git (replicas, autoscaler bounds, image bumps) reaches the cluster; drift is repaired."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.cluster.cluster_support import (
    CHILD_PATHS,
    CHILDREN,
    NAMESPACE,
    SERVICES,
    Cluster,
    GitCheckout,
    cluster_setting,
    eventually,
    unhealthy,
)

pytestmark = pytest.mark.cluster
REAL_NODE = cluster_setting("NODE_NAME")


def test_root_syncs_every_child_through_its_waves(dev: Cluster) -> None:
    root = dev.application("so1-p2-dev")["status"]
    assert (root["sync"]["status"], root["health"]["status"]) == ("Synced", "Healthy")
    revision = dev.served_revision()
    children = {r["name"]: r for r in root["resources"] if r["kind"] == "Application"}
    assert set(children) == set(CHILDREN), "the chart Applications are left out locally, the rest synced"
    for name in CHILDREN:
        app = dev.synced_at(name, revision)
        assert app["sourceType"] == "Kustomize"
    waves = {
        name: int(dev.application(name)["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for name in CHILDREN
    }
    assert waves["data"] < waves["pipeline"] < waves["observability"], waves


def test_services_run_on_the_real_node_admitted_as_restricted(dev: Cluster) -> None:
    namespace = dev.get("namespace", "so1-p2", namespace="")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name in SERVICES:
        dev.rolled_out(name, timeout=180)
    pods = dev.items("pods")
    running = {p["metadata"]["name"]: p for p in pods if p["status"].get("phase") == "Running"}
    for name in SERVICES:
        mine = [p for p in running.values() if p["metadata"]["name"].startswith(f"{name}-")]
        assert mine, f"no running pod for {name}"
        assert {p["spec"]["nodeName"] for p in mine} == {REAL_NODE}, "the image runs on the real node"
    refused = [
        e for e in dev.items("events") if e["reason"] == "FailedCreate" and "PodSecurity" in e["message"]
    ]
    assert not refused, [e["message"] for e in refused]


@pytest.mark.parametrize("app", CHILDREN)
def test_every_resource_is_healthy_as_on_gke(dev: Cluster, app: str) -> None:
    """The operators' resources and the Ingress get the status their controllers would write
    (cluster/operator-stages.yaml), and the consumer's CPU HPA reads metrics-server's API
    (cluster/metrics-server.sh): nothing here is unhealthy for want of a controller."""

    def healthy() -> None:
        assert unhealthy(dev.application(app)["status"]) == []

    eventually(healthy)


def test_the_consumer_hpa_reads_cpu_from_the_metrics_api(dev: Cluster) -> None:
    def cpu_read() -> None:
        status = dev.get("horizontalpodautoscaler", "consumer")["status"]
        conditions = {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions", [])}
        assert conditions.get("ScalingActive") == ("True", "ValidMetricFound"), status
        [cpu] = [m["resource"] for m in status.get("currentMetrics") or [] if m["type"] == "Resource"]
        assert cpu["name"] == "cpu" and "averageUtilization" in cpu["current"], cpu

    eventually(cpu_read, timeout=120)
    # The API it reads: metrics-server, through the API server's aggregation layer, with the real
    # node's pods (from its kubelet) and that node.
    api = "/apis/metrics.k8s.io/v1beta1"
    pods = json.loads(dev.kubectl("get", "--raw", f"{api}/namespaces/{NAMESPACE}/pods"))
    measured = {p["metadata"]["name"].rsplit("-", 2)[0] for p in pods["items"] if p["containers"]}
    assert set(SERVICES) <= measured, measured
    node = json.loads(dev.kubectl("get", "--raw", f"{api}/nodes/{REAL_NODE}"))
    assert node["usage"]["cpu"] and node["usage"]["memory"], node


def test_a_replica_pull_request_rolls_out(dev: Cluster, checkout: GitCheckout) -> None:
    checkout.deliver("set-replicas", "grpc-server", "3")
    assert checkout.git("diff", "--stat").count("|") == 1, "one file changes"
    revision = checkout.commit_and_push("grpc-server: 3 replicas")
    dev.synced_at("pipeline", revision, applied=True)
    deployment = dev.rolled_out("grpc-server")
    assert deployment["spec"]["replicas"] == 3


def test_autoscaler_bounds_reach_the_hpa_and_argo_cd_lets_it_scale(
    dev: Cluster, checkout: GitCheckout
) -> None:
    checkout.deliver("set-replicas", "consumer", "3", "--max", "6")
    revision = checkout.commit_and_push("consumer: 3 to 6 replicas")
    dev.synced_at("pipeline", revision, applied=True)
    hpa = dev.get("horizontalpodautoscaler", "consumer")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 6)

    def scaled_by_the_hpa() -> None:
        assert dev.get("deployment", "consumer")["spec"]["replicas"] == 3

    eventually(scaled_by_the_hpa)
    app = dev.application("pipeline")
    assert app["status"]["sync"]["status"] == "Synced", "the HPA's replicas are ignored, not drift"
    assert app["status"]["operationState"]["syncResult"]["revision"] == revision, "and not reverted"


def test_an_image_bump_to_a_missing_image_leaves_the_old_pods_serving(
    dev: Cluster, checkout: GitCheckout
) -> None:
    """The images workflow's bump by digest reaches every service; here that digest was never built,
    so the real node cannot pull it: the old pods keep serving and Argo CD shows the rollout stuck."""
    digest = "sha256:" + "5e" * 32
    before = {
        name: dev.rolled_out(name)["spec"]["template"]["spec"]["containers"][0]["image"] for name in SERVICES
    }
    checkout.deliver("bump-image", "--new-name", "ghcr.io/so1-p2/votemon", "--digest", digest)
    revision = checkout.commit_and_push("votemon image by digest")
    dev.synced_at("pipeline", revision, applied=True)
    for name in SERVICES:
        deployment = dev.get("deployment", name)
        images = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
        assert images == {f"ghcr.io/so1-p2/votemon@{digest}"}, (name, images)

    def stuck_on_the_pull() -> None:
        for name in SERVICES:
            deployment = dev.get("deployment", name)
            want = deployment["spec"]["replicas"]
            assert deployment["status"].get("availableReplicas") == want, ("the old pods serve", name)
            pods = dev.items("pods", selector=f"app.kubernetes.io/name={name}")
            waiting = {
                s["state"].get("waiting", {}).get("reason")
                for p in pods
                for s in p["status"].get("containerStatuses", [])
                if s["image"].endswith(digest)
            }
            assert waiting & {"ErrImagePull", "ImagePullBackOff"}, (name, waiting)
            serving = {
                s["image"] for p in pods for s in p["status"].get("containerStatuses", []) if s.get("ready")
            }
            assert serving == {before[name]}, (name, serving)
        health = {
            r["name"]: r.get("health", {}).get("status")
            for r in dev.application("pipeline")["status"]["resources"]
            if r["kind"] == "Deployment"
        }
        assert set(health.values()) == {"Progressing"}, health

    eventually(stuck_on_the_pull, timeout=120)


def test_drift_is_repaired(dev: Cluster) -> None:
    wanted = dev.get("deployment", "front")["spec"]["replicas"]
    dev.kubectl("scale", "deployment", "front", "-n", "so1-p2", "--replicas", str(wanted + 2))

    def reverted() -> None:
        assert dev.get("deployment", "front")["spec"]["replicas"] == wanted

    eventually(reverted)
    uid = dev.get("deployment", "results")["metadata"]["uid"]
    dev.kubectl("delete", "deployment", "results", "-n", "so1-p2", "--wait=true")

    def recreated() -> None:
        assert dev.get("deployment", "results")["metadata"]["uid"] != uid

    eventually(recreated)
    dev.rolled_out("results")


def test_data_resyncs_after_a_change_and_the_statefulsets_stay_valid(
    dev: Cluster, checkout: GitCheckout
) -> None:
    before = {name: dev.get("statefulset", name)["metadata"]["generation"] for name in ("redis", "mongodb")}
    pod_annotation = {"spec": {"template": {"metadata": {"annotations": {"votemon.test/resync": "1"}}}}}
    patch = json.dumps(
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "any"}, **pod_annotation}
    )
    checkout.run(
        "kustomize",
        "edit",
        "add",
        "patch",
        "--kind",
        "StatefulSet",
        "--patch",
        patch,
        within="overlays/dev/data",
    )
    revision = checkout.commit_and_push("data: annotate the StatefulSets' pods")
    dev.synced_at("data", revision, applied=True)
    after = {name: dev.get("statefulset", name)["metadata"]["generation"] for name in ("redis", "mongodb")}
    assert all(after[n] == before[n] + 1 for n in before), (before, after)
    # What this repository renders applies cleanly over what Argo CD synced: no immutable field moved.
    dev.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "-f",
        "-",
        stdin=dev.render("overlays/dev/data"),
    )


def manifests(text: str) -> dict[tuple[str, str], Any]:
    """Objects by kind and name, without the tracking annotation Argo CD adds to what it renders."""
    objects = [o for o in yaml.safe_load_all(text) if o]
    for obj in objects:
        annotations = obj["metadata"].get("annotations", {})
        annotations.pop("argocd.argoproj.io/tracking-id", None)
        if not annotations:
            obj["metadata"].pop("annotations", None)
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


@pytest.mark.parametrize("app", CHILDREN)
def test_argocd_renders_what_the_project_renders(dev: Cluster, app: str) -> None:
    """One kustomize everywhere: Argo CD's repo-server and the project's pinned CLI agree on every path."""
    argo = manifests(dev.argocd("app", "manifests", app, "--source", "git"))
    ours = manifests(dev.render(CHILD_PATHS["dev"][app]))
    assert argo.keys() == ours.keys()
    different = [key for key in ours if argo[key] != ours[key]]
    assert not different, different


@pytest.mark.parametrize("app", CHILDREN)
def test_the_argocd_cli_sees_synced_and_no_diff(dev: Cluster, app: str) -> None:
    assert "Synced to" in dev.argocd("app", "get", app)
    assert dev.argocd("app", "diff", app) == ""

"""Deploy feedback under a real Argo CD notifications controller (argocd/notifications/local): each
commit tells its author, through the local webhook receiver that stands where GitHub's commit
statuses do on GKE, that it deployed, failed to sync or degraded; once per commit, under auto-sync.

Each test syncs an Application of its own (a path it commits, a namespace of its own), so what other
tests pushed or left running cannot be counted as its notifications."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from tests.cluster.cluster_support import CHILDREN, Cluster, GitCheckout, cluster_setting, eventually

pytestmark = pytest.mark.cluster

NOT_READY = "votemon.dev/not-ready"  # cluster/operator-stages.yaml drives a resource so annotated not-ready


@dataclass(frozen=True)
class Receiver:
    """The local webhook receiver's record of what Argo CD sent (GET / answers all of it)."""

    url: str

    def events(self, app: str, event: str, revision: str | None = None) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = httpx.get(self.url, timeout=5).json()
        return [
            n
            for n in received
            if n.get("app") == app and n.get("event") == event and revision in (None, n.get("revision"))
        ]

    def wait_for(self, app: str, event: str, revision: str, timeout: float = 180) -> dict[str, Any]:
        def arrived() -> dict[str, Any]:
            found = self.events(app, event, revision)
            assert found, (app, event, revision, self.events(app, event))
            return found[0]

        return eventually(arrived, timeout=timeout)


@dataclass(frozen=True)
class OwnApplication:
    """An Application of the test's own, auto-synced from a path the test commits."""

    cluster: Cluster
    checkout: GitCheckout
    name: str

    @property
    def path(self) -> str:
        return f"tests/cluster/feedback/{self.name}"

    def push(self, objects: list[dict[str, Any]], message: str) -> str:
        folder = self.checkout.path / self.path
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "objects.yaml").write_text(yaml.safe_dump_all(objects))
        kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
        (folder / "kustomization.yaml").write_text(
            yaml.safe_dump({**kustomization, "resources": ["objects.yaml"]})
        )
        self.checkout.git("add", "-A")
        return self.checkout.commit_and_push(message)

    def create(self) -> None:
        """The Application, in a project of its own that allows only its namespace: as the bootstrap
        applies the real projects, never from git (the `default` project allows nothing)."""
        project = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": self.name, "namespace": "argocd"},
            "spec": {
                "sourceRepos": [self.cluster.env["VOTEMON_REPO_URL"]],
                "destinations": [{"server": "https://kubernetes.default.svc", "namespace": self.name}],
                "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            },
        }
        self.cluster.kubectl("apply", "-f", "-", stdin=json.dumps(project))
        application = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": self.name, "namespace": "argocd"},
            "spec": {
                "project": self.name,
                "source": {
                    "repoURL": self.cluster.env["VOTEMON_REPO_URL"],
                    "targetRevision": "main",
                    "path": self.path,
                },
                "destination": {"server": "https://kubernetes.default.svc", "namespace": self.name},
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": True},
                    "syncOptions": ["CreateNamespace=true"],
                    "retry": {"limit": 2, "backoff": {"duration": "1s", "factor": 2, "maxDuration": "5s"}},
                },
            },
        }
        self.cluster.kubectl("apply", "-f", "-", stdin=json.dumps(application))

    def delete(self) -> None:
        """The Application with its resources, then its namespace and project. Its end is polled for:
        the argocd CLI's `--wait` watches for the deletion, and once missed it and hung a CI run."""
        self.cluster.run("argocd", "app", "delete", self.name, "--cascade", "--yes", check=False)

        def gone() -> None:
            applications = self.cluster.items("applications.argoproj.io", namespace="argocd")
            assert self.name not in [a["metadata"]["name"] for a in applications]

        eventually(gone, timeout=120)
        self.cluster.run("kubectl", "delete", "namespace", self.name, "--ignore-not-found", "--wait=false")
        self.cluster.run("kubectl", "-n", "argocd", "delete", "appproject", self.name, "--ignore-not-found")


@pytest.fixture
def receiver(cluster: Cluster) -> Receiver:
    return Receiver(f"http://127.0.0.1:{cluster_setting('NOTIFICATION_RECEIVER_PORT')}/")


@pytest.fixture
def own(dev: Cluster, checkout: GitCheckout) -> Iterator[OwnApplication]:
    app = OwnApplication(dev, checkout, f"feedback-{uuid.uuid4().hex[:8]}")
    yield app
    app.delete()


def config_map(value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"value": value},
    }


def kafka_topic(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "feedback", "labels": {"strimzi.io/cluster": "votes"}}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": metadata,
        "spec": {"partitions": 1, "replicas": 1},
    }


def test_each_commit_is_reported_deployed_once_per_application(
    dev: Cluster, own: OwnApplication, receiver: Receiver
) -> None:
    first = own.push([config_map("1")], "feedback: first")
    own.create()
    dev.synced_at(own.name, first, applied=True)
    receiver.wait_for(own.name, "deployed", first)
    # A re-sync and a hard refresh of the same commit say nothing new.
    dev.argocd("app", "sync", own.name, "--timeout", "120")
    dev.argocd("app", "get", own.name, "--hard-refresh", "-o", "json")
    second = own.push([config_map("2")], "feedback: second")
    dev.synced_at(own.name, second, applied=True)
    deployed = receiver.wait_for(own.name, "deployed", second)
    assert (deployed["sync"], deployed["health"]) == ("Synced", "Healthy")
    assert len(receiver.events(own.name, "deployed", first)) == 1
    assert len(receiver.events(own.name, "deployed", second)) == 1
    # The root and every child report the same commit as deployed, once, though it changed none of them.
    for app in ("so1-p2-dev", *CHILDREN):
        dev.synced_at(app, second)
        receiver.wait_for(app, "deployed", second)
        assert len(receiver.events(app, "deployed", second)) == 1, app


def test_a_commit_that_cannot_sync_is_reported_sync_failed_under_auto_sync(
    dev: Cluster, own: OwnApplication, receiver: Receiver
) -> None:
    good = own.push([config_map("1")], "feedback: good")
    own.create()
    dev.synced_at(own.name, good, applied=True)
    invalid = config_map("2")
    invalid["metadata"]["name"] = "Not_A_Valid_Name"  # kustomize renders it; the API server refuses it
    bad = own.push([invalid], "feedback: an object the API server refuses")
    dev.refresh(own.name)
    failed = receiver.wait_for(own.name, "sync failed", bad)
    assert failed["phase"] in ("Failed", "Error"), failed

    def retries_over() -> None:
        operation = dev.application(own.name)["status"]["operationState"]
        assert operation["phase"] in ("Failed", "Error") and "Retrying" not in operation["message"], operation

    eventually(retries_over, timeout=120)
    assert len(receiver.events(own.name, "sync failed", bad)) == 1, (
        "one report for the commit, not one per retry"
    )
    assert receiver.events(own.name, "deployed", bad) == []


def test_a_health_regression_is_reported_degraded(
    dev: Cluster, own: OwnApplication, receiver: Receiver
) -> None:
    ready = own.push([kafka_topic()], "feedback: a topic")
    own.create()
    dev.synced_at(own.name, ready, applied=True)
    receiver.wait_for(own.name, "deployed", ready)
    broken = own.push(
        [kafka_topic({NOT_READY: "partition leader unavailable"})], "feedback: the topic breaks"
    )
    dev.synced_at(own.name, broken, applied=True)
    degraded = receiver.wait_for(own.name, "degraded", broken)
    assert degraded["health"] == "Degraded", degraded
    [topic] = [r for r in dev.application(own.name)["status"]["resources"] if r["kind"] == "KafkaTopic"]
    assert topic["health"] == {"status": "Degraded", "message": "partition leader unavailable"}, topic
    assert "Degraded" in dev.argocd("app", "get", own.name)
    # No assertion on "deployed" for the broken commit: the sync itself is healthy until the operator
    # (here its stand-in) reports the topic, so a "deployed" may come first, then "degraded".

"""Fixtures over the local control plane and Argo CD (cluster/up.sh; `make cluster` starts them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.cluster_support import CHILDREN, ROOT, Cluster, GitCheckout, cluster_environment


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on gke's root last: each switch between the roots re-bootstraps (about a minute), and
    every other test runs on dev's, which `make cluster` left in place."""
    items.sort(key=lambda item: "gke" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The running control plane, serving this checkout's HEAD (started if it is not running)."""
    running = Cluster(cluster_environment())
    running.run(ROOT / "cluster" / "up.sh")
    return running


def bootstrapped(cluster: Cluster, environment: str) -> Cluster:
    """The environment's root app-of-apps, bootstrapped the README's way and waited on: each root
    gates each wave on health, as on GKE."""
    cluster.run(ROOT / "scripts" / "argocd-bootstrap.sh", environment, "--without-operators")
    # The datastore Secrets that the External Secrets Operator would make (gone with the namespace
    # when another environment was bootstrapped).
    cluster.run(ROOT / "cluster" / "node.sh", "secrets")
    return cluster


@pytest.fixture(scope="module")
def dev(cluster: Cluster) -> Cluster:
    return bootstrapped(cluster, "dev")


@pytest.fixture(scope="module")
def gke(cluster: Cluster) -> Cluster:
    return bootstrapped(cluster, "gke")


@pytest.fixture
def checkout(cluster: Cluster, tmp_path: Path) -> Iterator[GitCheckout]:
    """A clone of the served repository; what a test pushes is undone by a commit afterwards."""
    clone = GitCheckout.clone(cluster, tmp_path / "repo")
    start = clone.git("rev-parse", "HEAD").strip()
    yield clone
    undone = clone.reset_to(start, "Undo the cluster test's change")
    for app in CHILDREN:
        cluster.synced_at(app, undone)

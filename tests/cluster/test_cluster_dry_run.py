"""What each environment's Applications sync, checked by the real API server: a server-side dry run
with strict field validation (CRDs installed), and applies that are idempotent. Each environment's
namespaced objects go to a namespace of their own here, so that gke's are not checked against dev's
live StatefulSets (whose storage, immutable, differs by design). The CRDs are those the offline
validator reads (`scripts/gitops crd-dirs`: the operators' and the stand-ins of GKE's policy kinds),
installed here too, so that no kind the validator accepts is unknown to the API server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from tests.cluster.cluster_support import CHILD_PATHS, ENVIRONMENTS, Cluster, eventually, in_namespace
from votemon.gitops.checks.schemas import crd_dirs

pytestmark = pytest.mark.cluster
SYNCED_PATHS = [
    (env, path)
    for env in ENVIRONMENTS
    for path in [*CHILD_PATHS[env].values(), f"apps/{env}", "apps/projects"]
]


def crds_established(cluster: Cluster) -> None:
    listed = json.loads(cluster.kubectl("get", "crd", "-o", "json"))["items"]
    waiting = [
        crd["metadata"]["name"]
        for crd in listed
        if not any(
            c["type"] == "Established" and c["status"] == "True"
            for c in crd.get("status", {}).get("conditions", [])
        )
    ]
    assert waiting == [], waiting


@pytest.fixture(scope="module")
def scratch(cluster: Cluster) -> Iterator[Cluster]:
    """Every CRD the validator knows, and a namespace per environment (a dry run cannot create the
    namespace its objects go to)."""
    for directory in crd_dirs():
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", directory)
    eventually(lambda: crds_established(cluster))
    names = [f"votemon-{env}" for env in ENVIRONMENTS]
    for name in names:
        cluster.kubectl("create", "namespace", name)
    yield cluster
    cluster.kubectl("delete", "namespace", *names, "--wait=false")


@pytest.mark.parametrize(("env", "path"), SYNCED_PATHS, ids=[f"{e}:{p}" for e, p in SYNCED_PATHS])
def test_the_api_server_accepts_every_object_strictly(scratch: Cluster, env: str, path: str) -> None:
    rendered = in_namespace(scratch.render(path), f"votemon-{env}")
    out = scratch.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "--validate=strict",
        "--field-manager=votemon-tests",
        "-f",
        "-",
        stdin=rendered,
    )
    objects = [o for o in yaml.safe_load_all(rendered) if o]
    assert out.count("(server dry run)") == len(objects), out


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_applying_twice_changes_nothing(scratch: Cluster, env: str) -> None:
    """Server-side apply of the same render twice leaves every generation as it was: nothing the
    API server normalises away (such as an empty NetworkPolicy rule list) is left in the manifests."""
    namespace = f"votemon-{env}"
    objects = [
        o
        for path in CHILD_PATHS[env].values()
        for o in yaml.safe_load_all(in_namespace(scratch.render(path), namespace))
        if o and o["metadata"].get("namespace") == namespace
    ]
    manifest = yaml.safe_dump_all(objects)
    # An HPA (dev's consumer; it reads metrics-server here) sets its target's replicas, and so its
    # generation, whenever it acts: the autoscaler's doing, not the manifests'.
    scaled = {
        f"{o['spec']['scaleTargetRef']['kind']}/{o['spec']['scaleTargetRef']['name']}"
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    }

    def generations() -> dict[str, int]:
        scratch.kubectl("apply", "--server-side", "--field-manager=votemon-tests", "-f", "-", stdin=manifest)
        listed = json.loads(scratch.kubectl("get", "-f", "-", "-o", "json", stdin=manifest))
        return {
            f"{o['kind']}/{o['metadata']['name']}": o["metadata"].get("generation", 0)
            for o in listed["items"]
        }

    first = generations()
    assert len(first) == len(objects)
    unscaled = {key: generation for key, generation in first.items() if key not in scaled}
    assert {key: generation for key, generation in generations().items() if key not in scaled} == unscaled

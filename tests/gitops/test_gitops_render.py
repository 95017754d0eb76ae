"""Every base and overlay renders with the pinned `kustomize build` and every object in it passes its
schema (Kubernetes kinds strictly, custom resources against schemas/crds) and the pod rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gitops.gitops_support import REPO
from votemon.gitops import checks, tree
from votemon.gitops.checks import schemas

DIRS = tree.kustomization_dirs()
IDS = [str(p.relative_to(REPO)) for p in DIRS]
COMPONENTS = {
    "namespace",
    "pipeline-config",
    "front",
    "grpc-server",
    "consumer",
    "results",
    "redis",
    "mongodb",
    "kafka",
    "prometheus",
    "grafana",
    "ingress",
    "gateway",
}


def test_layout_has_a_base_per_component_and_both_overlays() -> None:
    rendered = {str(p.relative_to(REPO)) for p in DIRS}
    assert {f"base/{c}" for c in COMPONENTS} | {"overlays/observability"} <= rendered
    assert set(tree.ENVS) == {"dev", "gke"}
    for env in tree.ENVS:
        assert {f"overlays/{env}", f"overlays/{env}/data", f"apps/{env}"} <= rendered


@pytest.mark.parametrize("path", DIRS, ids=IDS)
def test_renders_and_passes_schemas(path: Path) -> None:
    objs = list(tree.render(path))
    assert objs, f"{path} renders nothing"
    assert checks.check_schemas(objs) == []


@pytest.mark.parametrize("path", DIRS, ids=IDS)
def test_pods_follow_restricted_security_with_probes_and_resources(path: Path) -> None:
    assert checks.check_pod_security(list(tree.render(path))) == []


def test_no_secret_is_committed() -> None:
    objs = [o for path in DIRS for o in tree.render(path)]
    assert [tree.name_of(o) for o in objs if o["kind"] == "Secret"] == []
    for config in (o for o in objs if o["kind"] == "ConfigMap"):
        for key, value in config.get("data", {}).items():
            assert "PASSWORD" not in key.upper(), f"{tree.name_of(config)}: {key}"
            assert "password:" not in value.replace(
                "password: $__file{/etc/grafana/redis-user/password}", ""
            ), tree.name_of(config)


def test_kubernetes_version_is_one_kubernetes_validate_ships() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}
    assert schemas.schema_errors(obj) == []
    assert schemas.K8S_VERSION.startswith("1.35")

"""The rules that keep a real Argo CD sync from stalling, each shown to fail on the defect it guards
against (these defects were in the tree before the rules: issue "Argo CD reconciles this repository
for real")."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

from tests.gitops.gitops_support import REPO, argo_copy, find
from votemon.gitops import checks, tree


def gke_data() -> list[tree.Obj]:
    return copy.deepcopy(list(tree.render(REPO / "overlays" / "gke" / "data")))


def test_a_reference_to_a_later_wave_fails() -> None:
    objs = gke_data()
    assert checks.wave_errors(objs) == []
    store = find(objs, "SecretStore", "gcp-secret-manager")
    store["metadata"].setdefault("annotations", {})["argocd.argoproj.io/sync-wave"] = "-1"
    errors = checks.wave_errors(objs)
    assert any("references ServiceAccount/external-secrets-gsm, synced later" in e for e in errors), errors


def test_a_reference_to_a_later_application_fails(tmp_path: Path) -> None:
    assert checks.check_application_waves("dev") == []
    for part in ("apps", "base", "overlays"):
        shutil.copytree(REPO / part, tmp_path / part)
    data = tmp_path / "apps" / "base" / "data.yaml"
    data.write_text(data.read_text().replace('sync-wave: "1"', 'sync-wave: "3"'))
    errors = checks.check_application_waves("dev", tmp_path)
    assert any(
        "Deployment/results (wave 2) references Secret/redis-results, synced later (wave 3)" in e
        for e in errors
    ), errors
    # Strimzi's Secrets count as made by their KafkaUser and their Kafka.
    assert any(
        "Deployment/grpc-server (wave 2) references Secret/grpc-server, synced later (wave 3)" in e
        for e in errors
    ), errors
    assert any(
        "Deployment/consumer (wave 2) references Secret/votes-cluster-ca-cert, synced later (wave 3)" in e
        for e in errors
    ), errors


def test_an_empty_network_policy_list_fails() -> None:
    objs = gke_data()
    assert checks.check_idempotent_apply(objs) == []
    find(objs, "NetworkPolicy", "redis")["spec"]["egress"] = []
    assert checks.check_idempotent_apply(objs) == [
        "NetworkPolicy/redis: spec.egress: [] (drop it; policyTypes denies egress)"
    ]


def test_an_application_without_retry_fails() -> None:
    objs = argo_copy("dev")
    assert checks.check_argo_apps(objs) == []
    del find(objs, "Application", "pipeline")["spec"]["syncPolicy"]["retry"]
    assert "Application/pipeline: no syncPolicy.retry with a limit and a backoff" in checks.check_argo_apps(
        objs
    )


def test_argo_files_without_namespace_or_a_root_without_retry_fail(tmp_path: Path) -> None:
    shutil.copytree(REPO / "apps", tmp_path / "apps")
    assert checks.check_argo_sources(tmp_path) == []
    bootstrap = tmp_path / "apps" / "projects" / "bootstrap.yaml"
    bootstrap.write_text(bootstrap.read_text().replace("  namespace: argocd\n", "", 1))
    root = tmp_path / "apps" / "root" / "app-of-apps.yaml"
    root.write_text(root.read_text().replace("    retry:", "    retry_removed:", 1))
    errors = checks.check_argo_sources(tmp_path)
    assert "apps/projects/bootstrap.yaml: AppProject/so1-p2-bootstrap: no metadata.namespace argocd" in errors
    assert any(e.startswith("apps/root/app-of-apps.yaml: ") and "no syncPolicy.retry" in e for e in errors), (
        errors
    )


def test_deleting_an_application_cannot_take_the_namespace_or_crds_with_it() -> None:
    apps = argo_copy("gke")
    assert checks.check_argo_apps(apps) == []
    find(apps, "Application", "strimzi-operator")["metadata"]["finalizers"] = [
        "resources-finalizer.argocd.argoproj.io"
    ]
    errors = checks.check_argo_apps(apps)
    assert any(
        e.startswith("Application/strimzi-operator: a chart with a resources-finalizer") for e in errors
    )
    objs = gke_data()
    assert checks.check_namespace_kept(objs) == []
    del find(objs, "Namespace", "so1-p2")["metadata"]["annotations"]
    assert checks.check_namespace_kept(objs) == [
        "Namespace/so1-p2: no sync-options Delete=false: deleting its Application would empty the namespace"
    ]


def test_a_project_that_syncs_this_repository_cannot_go_cluster_wide() -> None:
    apps = argo_copy("dev")
    assert checks.check_argo_apps(apps) == []
    whitelist = find(apps, "AppProject", "so1-p2")["spec"]["clusterResourceWhitelist"]
    whitelist.append({"group": "rbac.authorization.k8s.io", "kind": "ClusterRoleBinding"})
    find(apps, "Application", "strimzi-operator")["spec"]["syncPolicy"]["managedNamespaceMetadata"] = {}
    errors = checks.check_argo_apps(apps)
    assert "AppProject/so1-p2: syncs this repository and may create cluster-wide ClusterRoleBinding" in errors
    assert any(
        e.startswith("Application/strimzi-operator: managedNamespaceMetadata declares") for e in errors
    )

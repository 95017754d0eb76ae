"""The trust root on a real Argo CD (docs/security.md): a commit, which Argo CD syncs without review,
cannot widen what Argo CD may do. An Application in `project: default` syncs nothing, and a
cluster-scoped kind in the system's tree is never applied. Both commits skip the validator, which
refuses them too (tests/gitops/test_gitops_trust_root.py): here Argo CD itself must refuse them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.cluster.cluster_support import Cluster, GitCheckout, eventually
from votemon.gitops.kustomize import kustomize

pytestmark = pytest.mark.cluster


def written(checkout: GitCheckout, directory: str, name: str, obj: dict[str, Any]) -> None:
    """`obj` in a file of its own, added to the kustomization of `directory` with the kustomize CLI
    (created there if the directory has none), and staged."""
    (checkout.path / directory).mkdir(parents=True, exist_ok=True)
    (checkout.path / directory / name).write_text(yaml.safe_dump(obj), encoding="utf-8")
    if not (checkout.path / directory / "kustomization.yaml").exists():
        kustomize("create", cwd=checkout.path / directory)
    kustomize("edit", "add", "resource", name, cwd=checkout.path / directory)
    checkout.git("add", "-A")


def undone(cluster: Cluster, checkout: GitCheckout, start: str, app: str) -> None:
    """Undo the test's commit in git and sync `app` to the undo, as an operator would from the UI: end
    the operation still on the refused commit (waiting on a child's health, or retrying with a backoff
    of minutes), then sync. Where auto-sync starts first (the undo leaves `app` OutOfSync), the manual
    sync is refused as a second operation, and auto-sync's is the one waited on."""
    revision = checkout.reset_to(start, "Undo the cluster test's change")
    cluster.run("argocd", "app", "terminate-op", app, check=False)  # or: no operation in progress

    def ended() -> None:
        operation = cluster.application(app)["status"].get("operationState", {})
        assert operation.get("phase") != "Running", operation.get("message")

    eventually(ended)
    cluster.refresh(app)
    cluster.run("argocd", "app", "sync", app, "--async", check=False)
    cluster.synced_at(app, revision)


def messages(app: dict[str, Any]) -> list[str]:
    """What an Application says went wrong: its conditions, its last operation's message and that
    operation's message for each resource."""
    status = app.get("status", {})
    operation = status.get("operationState", {})
    return [
        *(c.get("message", "") for c in status.get("conditions", [])),
        operation.get("message", ""),
        *(r.get("message", "") for r in operation.get("syncResult", {}).get("resources", [])),
    ]


def test_an_application_in_the_default_project_syncs_nothing(dev: Cluster, checkout: GitCheckout) -> None:
    """The root project may create Applications, so a commit under apps/ can add one; in the `default`
    project (restricted to nothing) it may sync no repository, no destination and no kind."""
    start = checkout.git("rev-parse", "HEAD").strip()
    written(
        checkout,
        "rogue",
        "configmap.yaml",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "rogue", "namespace": "so1-p2"},
            "data": {"written": "by a commit nobody reviewed"},
        },
    )
    written(
        checkout,
        "apps/dev",
        "rogue.yaml",
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "rogue", "annotations": {"argocd.argoproj.io/sync-wave": "9"}},
            "spec": {
                "project": "default",
                "source": {"repoURL": dev.env["VOTEMON_REPO_URL"], "path": "rogue", "targetRevision": "main"},
                "destination": {"namespace": "so1-p2"},
            },
        },
    )
    checkout.commit_and_push("An Application in the default project")
    dev.refresh("so1-p2-dev")

    def refused() -> dict[str, Any]:
        app = dev.application("rogue")
        said = messages(app)
        assert any("not permitted in project 'default'" in m for m in said), said
        return app

    app = eventually(refused, timeout=120)

    def the_root_shows_it() -> None:
        resources = dev.application("so1-p2-dev")["status"].get("resources", [])
        [child] = [r for r in resources if (r["kind"], r["name"]) == ("Application", "rogue")]
        assert child.get("health", {}).get("status") == "Degraded", child

    eventually(the_root_shows_it, timeout=60)
    assert app["spec"]["project"] == "default", "the root created it as written"
    assert not app["status"].get("resources"), "and it owns nothing"
    assert "rogue" not in [c["metadata"]["name"] for c in dev.items("configmap")], (
        "nothing it names is applied"
    )

    undone(dev, checkout, start, "so1-p2-dev")

    def pruned() -> None:
        names = [a["metadata"]["name"] for a in dev.items("applications.argoproj.io", namespace="argocd")]
        assert "rogue" not in names, names

    eventually(pruned, timeout=120)


def test_a_cluster_scoped_kind_in_the_systems_tree_is_never_applied(
    dev: Cluster, checkout: GitCheckout
) -> None:
    """Project so1-p2 allows the Namespace and no other cluster-wide kind: a ClusterRole committed to
    an overlay is refused at sync, and the cluster never gets it."""
    start = checkout.git("rev-parse", "HEAD").strip()
    written(
        checkout,
        "overlays/dev",
        "rogue-clusterrole.yaml",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "votemon-rogue"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        },
    )
    checkout.commit_and_push("A ClusterRole in dev's overlay")
    dev.refresh("pipeline")

    def refused() -> None:
        said = messages(dev.application("pipeline"))
        assert any("ClusterRole" in m and "not permitted in project so1-p2" in m for m in said), said

    eventually(refused, timeout=120)
    roles = [r["metadata"]["name"] for r in dev.items("clusterroles", namespace="")]
    assert "votemon-rogue" not in roles
    undone(dev, checkout, start, "pipeline")

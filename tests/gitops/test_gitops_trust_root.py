"""Argo CD's trust root: the projects and RBAC the bootstrap applies (never synced from git) are
narrow, and each check that says so can fail."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from tests.gitops.gitops_support import REPO, find
from votemon.gitops import checks, root_app, tree, trust_root

Obj = tree.Obj


def projects() -> list[Obj]:
    return copy.deepcopy(trust_root.projects())


def access() -> list[Obj]:
    return copy.deepcopy([*trust_root.rbac(), trust_root.sso("https://argocd.example.org", "id")])


def test_the_trust_root_as_committed_passes() -> None:
    assert checks.check_projects(projects()) == []
    assert checks.check_argocd_access(access()) == []
    for env in tree.ENVS:
        assert checks.check_not_synced(list(tree.render(REPO / "apps" / env))) == []


def test_the_projects_allow_this_repository_and_the_bootstraps_own() -> None:
    upstream = tree.repository().url
    by_name = {
        p["metadata"]["name"]: p["spec"]["sourceRepos"] for p in trust_root.projects("git://local/v.git")
    }
    assert by_name["so1-p2"] == by_name["so1-p2-bootstrap"] == [upstream, "git://local/v.git"]
    assert by_name["default"] == []
    assert upstream not in by_name["so1-p2-addons"], "the add-ons' project syncs pinned charts only"


@pytest.mark.parametrize("env", tree.ENVS)
def test_a_root_app_syncs_no_project(env: str) -> None:
    """The root syncs apps/<env>: no AppProject there, and its own project cannot create one."""
    root = root_app.root_app(env, repo="git://local/v.git", without_operators=True)
    assert root["spec"]["project"] == "so1-p2-bootstrap"
    assert not any(o["kind"] == "AppProject" for o in tree.render(REPO / root["spec"]["source"]["path"]))


Mutation = Callable[[list[Obj]], object]


def spec(name: str) -> Callable[[list[Obj]], Obj]:
    return lambda objs: find(objs, "AppProject", name)["spec"]


PROJECT_CASES: list[tuple[str, Mutation, str]] = [
    ("default repos", lambda o: spec("default")(o).update(sourceRepos=["*"]), "AppProject/default: allows"),
    (
        "default destinations",
        lambda o: spec("default")(o).update(destinations=[{"server": "https://x", "namespace": "a"}]),
        "AppProject/default: allows destinations",
    ),
    (
        "default namespaced kinds",
        lambda o: spec("default")(o).pop("namespaceResourceBlacklist"),
        "AppProject/default: allows namespaced kinds",
    ),
    (
        "default missing",
        lambda o: o.remove(find(o, "AppProject", "default")),
        "AppProject/default: not restricted",
    ),
    (
        "wildcard destination",
        lambda o: spec("so1-p2")(o)["destinations"].append({"server": "*", "namespace": "*"}),
        "AppProject/so1-p2: allows any destination",
    ),
    (
        "wildcard kind",
        lambda o: spec("so1-p2-addons")(o)["clusterResourceWhitelist"].append({"group": "*", "kind": "*"}),
        "AppProject/so1-p2-addons: allows any clusterResourceWhitelist */*",
    ),
    (
        "wildcard repo",
        lambda o: spec("so1-p2-addons")(o)["sourceRepos"].append("*"),
        "allows any sourceRepos *",
    ),
    (
        "root creates projects",
        lambda o: spec("so1-p2-bootstrap")(o)["namespaceResourceWhitelist"].append(
            {"group": "argoproj.io", "kind": "AppProject"}
        ),
        "AppProject/so1-p2-bootstrap: may create more than Applications",
    ),
    (
        "root elsewhere",
        lambda o: spec("so1-p2-bootstrap")(o)["destinations"].append(
            {"server": "https://x", "namespace": "so1-p2"}
        ),
        "AppProject/so1-p2-bootstrap: may sync outside namespace argocd",
    ),
]


def test_an_application_in_default_or_a_synced_project_or_config_fails() -> None:
    apps = copy.deepcopy(list(tree.render(REPO / "apps" / "gke")))
    find(apps, "Application", "pipeline")["spec"]["project"] = "default"
    del find(apps, "Application", "data")["spec"]["project"]
    apps.append(find(projects(), "AppProject", "so1-p2"))
    apps.append({"kind": "ConfigMap", "metadata": {"name": "argocd-rbac-cm"}})
    errors = checks.check_not_synced(apps)
    for needle in (
        "Application/pipeline: in project default",
        "Application/data: in project default",
        "AppProject/so1-p2: synced from git",
        "ConfigMap/argocd-rbac-cm: synced from git",
    ):
        assert any(e.startswith(needle) for e in errors), (needle, errors)


def data(objs: list[Obj], name: str) -> dict[str, str]:
    found: dict[str, str] = find(objs, "ConfigMap", name)["data"]
    return found


ACCESS_CASES: list[tuple[str, Mutation, str]] = [
    (
        "default admin",
        lambda o: data(o, "argocd-rbac-cm").update({"policy.default": "role:admin"}),
        "policy.default",
    ),
    (
        "edits outside git",
        lambda o: data(o, "argocd-rbac-cm").update(
            {"policy.csv": "p, role:x, applications, *, */*, allow\n"}
        ),
        "changes come from git only",
    ),
    (
        "admin to a local account",
        lambda o: data(o, "argocd-rbac-cm").update({"policy.csv": "g, alice, role:admin\n"}),
        "role:admin to alice",
    ),
    ("shared admin", lambda o: data(o, "argocd-cm").pop("admin.enabled"), "admin.enabled"),
    ("anonymous", lambda o: data(o, "argocd-cm").update({"users.anonymous.enabled": "true"}), "anonymous"),
    ("no sso", lambda o: data(o, "argocd-cm").pop("oidc.config"), "no SSO"),
    (
        "local account",
        lambda o: data(o, "argocd-cm").update({"accounts.ci": "apiKey"}),
        "local account accounts.ci",
    ),
    ("no rbac", lambda o: o.remove(find(o, "ConfigMap", "argocd-rbac-cm")), "argocd-rbac-cm: missing"),
]


Check = Callable[[list[Obj]], list[str]]
CASES: list[tuple[Check, Callable[[], list[Obj]], tuple[str, Mutation, str]]] = [
    *((checks.check_projects, projects, case) for case in PROJECT_CASES),
    *((checks.check_argocd_access, access, case) for case in ACCESS_CASES),
]


@pytest.mark.parametrize(("check", "objects", "case"), CASES, ids=[c[2][0] for c in CASES])
def test_a_wide_project_or_argocd_access_fails(
    check: Check, objects: Callable[[], list[Obj]], case: tuple[str, Mutation, str]
) -> None:
    name, mutate, needle = case
    objs = objects()
    mutate(objs)
    errors = check(objs)
    assert any(needle in e for e in errors), (name, errors)


def test_sso_placeholders_are_filled() -> None:
    config = trust_root.sso("https://argocd.example.org", "1234.apps.googleusercontent.com")
    assert config["data"]["url"] == "https://argocd.example.org"
    assert "clientID: 1234.apps.googleusercontent.com" in config["data"]["oidc.config"]
    assert not any(p in str(config) for p in trust_root.SSO_PLACEHOLDERS)

"""Argo CD's trust root (apps/projects, apps/argocd): what the bootstrap applies and git never syncs.
A commit under apps/ reaches only what these allow, so they must stay narrow (docs/security.md)."""

from __future__ import annotations

from votemon.gitops.tree import Obj, name_of

DEFAULT_PROJECT = "default"
ROOT_PROJECT = "so1-p2-bootstrap"
# The one kind a root app creates: Applications, in namespace argocd.
ROOT_KINDS = [{"group": "argoproj.io", "kind": "Application"}]
EVERYTHING = {"group": "*", "kind": "*"}
# Argo CD's own configuration: never in a synced tree (it would let a commit change who may do what).
ARGOCD_CONFIG_OBJECTS = {"argocd-cm", "argocd-rbac-cm", "argocd-secret", "argocd-cmd-params-cm"}


def _wildcards(project: Obj) -> list[str]:
    spec = project["spec"]
    found = [f"sourceRepos {repo}" for repo in spec.get("sourceRepos", []) if "*" in repo]
    found += [
        f"destination {d.get('server', d.get('name'))} {d.get('namespace')}"
        for d in spec.get("destinations", [])
        if "*" in f"{d.get('server', '')}{d.get('name', '')}{d.get('namespace', '')}"
    ]
    found += [
        f"{field} {kind.get('group')}/{kind.get('kind')}"
        for field in ("clusterResourceWhitelist", "namespaceResourceWhitelist")
        for kind in spec.get(field, [])
        if "*" in f"{kind.get('group', '')}{kind.get('kind', '')}"
    ]
    return found


def check_projects(projects: list[Obj]) -> list[str]:
    """`default` allows nothing; no project allows a wildcard repository, destination or kind; the
    root apps' project creates Applications in argocd and nothing else."""
    by_name = {p["metadata"]["name"]: p for p in projects}
    errors = [f"{name_of(p)}: allows any {w}" for p in projects for w in _wildcards(p)]
    default = by_name.get(DEFAULT_PROJECT)
    if default is None:
        errors.append("AppProject/default: not restricted (the bootstrap must apply it, allowed nothing)")
    else:
        spec = default["spec"]
        allowed = [f for f in ("sourceRepos", "destinations", "clusterResourceWhitelist") if spec.get(f)]
        allowed += ["namespaceResourceWhitelist"] if "namespaceResourceWhitelist" in spec else []
        if EVERYTHING not in spec.get("namespaceResourceBlacklist", []):
            allowed.append("namespaced kinds (no namespaceResourceBlacklist */*)")
        errors.extend(f"AppProject/default: allows {what}; it must allow nothing" for what in allowed)
    root = by_name.get(ROOT_PROJECT)
    if root is None:
        errors.append(f"AppProject/{ROOT_PROJECT}: missing")
    else:
        spec = root["spec"]
        if spec.get("clusterResourceWhitelist") or spec.get("namespaceResourceWhitelist") != ROOT_KINDS:
            errors.append(f"AppProject/{ROOT_PROJECT}: may create more than Applications")
        if any(d.get("namespace") != "argocd" for d in spec.get("destinations", [])):
            errors.append(f"AppProject/{ROOT_PROJECT}: may sync outside namespace argocd")
    return errors


def check_not_synced(apps: list[Obj]) -> list[str]:
    """What a root app syncs (apps/<env>) holds no AppProject and no Argo CD configuration (those are
    the bootstrap's, so that a pull request cannot widen them), and no Application in `default`."""
    errors = [
        f"{name_of(obj)}: synced from git; the bootstrap applies the trust root (apps/projects, apps/argocd)"
        for obj in apps
        if obj["kind"] == "AppProject"
        or (obj["kind"] in {"ConfigMap", "Secret"} and obj["metadata"]["name"] in ARGOCD_CONFIG_OBJECTS)
    ]
    errors.extend(
        f"{name_of(app)}: in project default (allowed nothing): name a project of its own"
        for app in apps
        if app["kind"] == "Application" and app["spec"].get("project", DEFAULT_PROJECT) == DEFAULT_PROJECT
    )
    return errors


def _policy_lines(rbac: Obj) -> list[list[str]]:
    csv = rbac.get("data", {}).get("policy.csv", "")
    return [[cell.strip() for cell in line.split(",")] for line in csv.splitlines() if line.strip()]


def check_argocd_access(config: list[Obj]) -> list[str]:
    """argocd-rbac-cm: read-only by default, no grant that edits Applications or projects outside
    git, admin only to an SSO group; argocd-cm after the bootstrap: SSO on, admin and anonymous off,
    no local accounts."""
    by_name = {c["metadata"]["name"]: c for c in config if c["kind"] == "ConfigMap"}
    errors = []
    rbac = by_name.get("argocd-rbac-cm")
    if rbac is None:
        return ["ConfigMap/argocd-rbac-cm: missing"]
    if rbac.get("data", {}).get("policy.default") != "role:readonly":
        errors.append("ConfigMap/argocd-rbac-cm: policy.default is not role:readonly")
    for cells in _policy_lines(rbac):
        if (
            cells[0] == "p"
            and len(cells) >= 5
            and cells[2] in {"applications", "projects", "clusters", "repositories", "accounts"}
            and cells[3] in {"*", "create", "update", "delete"}
            and cells[-1] == "allow"
        ):
            errors.append(f"ConfigMap/argocd-rbac-cm: {', '.join(cells)}: changes come from git only")
        if cells[0] == "g" and len(cells) == 3 and cells[2] == "role:admin" and "@" not in cells[1]:
            errors.append(f"ConfigMap/argocd-rbac-cm: role:admin to {cells[1]}: only to an SSO group")
    cm = by_name.get("argocd-cm")
    if cm is None:
        return [*errors, "ConfigMap/argocd-cm: no SSO settings"]
    data = cm.get("data", {})
    if data.get("admin.enabled") != "false":
        errors.append('ConfigMap/argocd-cm: admin.enabled is not "false" (one shared admin)')
    if data.get("users.anonymous.enabled", "false") != "false":
        errors.append("ConfigMap/argocd-cm: anonymous users enabled")
    if not (data.get("oidc.config") or data.get("dex.config")):
        errors.append("ConfigMap/argocd-cm: no SSO (oidc.config or dex.config)")
    errors.extend(f"ConfigMap/argocd-cm: local account {key}" for key in data if key.startswith("accounts."))
    return errors

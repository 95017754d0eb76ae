"""Argo CD: Applications and AppProjects, sync waves, retries, least privilege, idempotent apply."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import yaml

from votemon.gitops import REPO
from votemon.gitops.objects import (
    kept_on_delete,
    references,
    secret_producers,
)
from votemon.gitops.tree import (
    ARGOCD_NAMESPACE,
    LOADER,
    NAMESPACE,
    Obj,
    name_of,
    render,
)


def _app_errors(app: Obj, projects: dict[str, Obj], root: Path) -> list[str]:
    where = name_of(app)
    spec = app["spec"]
    source = spec.get("source", {})
    errors = []
    if app["metadata"].get("namespace") != ARGOCD_NAMESPACE:
        errors.append(f"{where}: not in namespace {ARGOCD_NAMESPACE}")
    if "argocd.argoproj.io/sync-wave" not in app["metadata"].get("annotations", {}):
        errors.append(f"{where}: no sync-wave annotation")
    if source.get("path") is not None:
        path = root / source["path"]
        if not (path / "kustomization.yaml").is_file():
            errors.append(f"{where}: path {source['path']} has no kustomization.yaml")
        else:
            try:
                render(path)
            except RuntimeError as err:
                errors.append(f"{where}: path {source['path']} does not render: {err}")
    elif not re.fullmatch(r"\d+\.\d+\.\d+", str(source.get("targetRevision", ""))):
        errors.append(f"{where}: chart {source.get('chart')} not pinned to an exact version")
    policy = spec.get("syncPolicy", {})
    errors.extend(_retry_errors(app))
    automated = policy.get("automated", {})
    if not (automated.get("prune") and automated.get("selfHeal")):
        errors.append(f"{where}: automated sync without prune and selfHeal")
    if "CreateNamespace=true" not in policy.get("syncOptions", []):
        errors.append(f"{where}: no CreateNamespace=true")
    project = projects.get(spec["project"])
    if project is None:
        errors.append(f"{where}: project {spec['project']} is not defined")
    elif not any(
        d.get("namespace") == spec["destination"]["namespace"] for d in project["spec"]["destinations"]
    ):
        errors.append(
            f"{where}: project {spec['project']} forbids namespace {spec['destination']['namespace']}"
        )
    if source.get("chart") == "strimzi-kafka-operator" and "ServerSideApply=true" not in policy.get(
        "syncOptions", []
    ):
        errors.append(f"{where}: the Strimzi CRDs need ServerSideApply=true")
    return errors


def _retry_errors(app: Obj) -> list[str]:
    """Automated sync never retries a commit whose sync failed (one Degraded blip would end a
    bootstrap) unless the Application has a retry policy with backoff."""
    retry = app["spec"].get("syncPolicy", {}).get("retry", {})
    if retry.get("limit") is None or not retry.get("backoff", {}).get("duration"):
        return [f"{name_of(app)}: no syncPolicy.retry with a limit and a backoff"]
    return []


def check_argo_sources(root: Path = REPO) -> list[str]:
    """Each Application and AppProject file names namespace argocd itself, so that applying the file
    alone (kubectl apply -f, argocd proj create -f) puts it where Argo CD looks; root apps retry."""
    errors = []
    for path in sorted((root / "apps").rglob("*.yaml")):
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=LOADER):
            if not doc or doc.get("kind") not in {"Application", "AppProject"}:
                continue
            where = f"{path.relative_to(root)}: {name_of(doc)}"
            if doc["metadata"].get("namespace") != ARGOCD_NAMESPACE:
                errors.append(f"{where}: no metadata.namespace {ARGOCD_NAMESPACE}")
            if doc["kind"] == "Application" and path.parent.name == "root":
                errors.extend(f"{path.relative_to(root)}: {e}" for e in _retry_errors(doc))
    return errors


def wave_of(obj: Obj) -> int:
    return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def wave_errors(objs: list[Obj], wave: Callable[[Obj], int] = wave_of) -> list[str]:
    """Nothing syncs in an earlier wave than what it references: Argo CD waits for a wave to be
    healthy before it applies the next one, so a reference to a later wave deadlocks the sync."""
    producers: dict[tuple[str, str], Obj] = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    producers.update({("Secret", name): o for name, o in secret_producers(objs).items()})
    return [
        f"{name_of(obj)} (wave {wave(obj)}) references {kind}/{name}, synced later (wave {wave(producer)})"
        for obj in objs
        for kind, name in references(obj)
        if (producer := producers.get((kind, name))) is not None and wave(producer) > wave(obj)
    ]


def check_application_waves(env: str, root: Path = REPO) -> list[str]:
    """wave_errors across an environment's Applications: each object syncs in its Application's wave."""
    apps = [
        a
        for a in render(root / "apps" / env)
        if a["kind"] == "Application" and a["spec"]["source"].get("path")
    ]
    app_wave: dict[int, int] = {}
    objs: list[Obj] = []
    for app in apps:
        for obj in render(root / app["spec"]["source"]["path"]):
            app_wave[id(obj)] = wave_of(app)
            objs.append(obj)
    return wave_errors(objs, lambda obj: app_wave[id(obj)])


def check_idempotent_apply(objs: list[Obj]) -> list[str]:
    """An empty `ingress: []` / `egress: []` is stored as absent, so every server-side apply would
    change the NetworkPolicy again (a new generation each time); policyTypes already says deny."""
    return [
        f"{name_of(p)}: spec.{direction}: [] (drop it; policyTypes denies {direction})"
        for p in objs
        if p["kind"] == "NetworkPolicy"
        for direction in ("ingress", "egress")
        if p["spec"].get(direction) == []
    ]


def check_namespace_kept(objs: list[Obj]) -> list[str]:
    """Deleting the Application that declares the namespace must not delete everything in it."""
    return [
        f"{name_of(ns)}: no sync-options Delete=false: deleting its Application would empty the namespace"
        for ns in objs
        if ns["kind"] == "Namespace" and not kept_on_delete(ns)
    ]


def _least_privilege_errors(objs: list[Obj], projects: dict[str, Obj]) -> list[str]:
    """A project that syncs this repository may create no cluster-wide kind but the Namespace (a
    pull request to overlays/ must not be able to add a cluster-admin binding), and the namespace is
    declared once: by its Namespace object, not also by an Application's managedNamespaceMetadata."""
    ours = {
        a["spec"]["source"]["repoURL"]
        for a in objs
        if a["kind"] == "Application" and a["spec"]["source"].get("path")
    }
    errors = [
        f"{name_of(project)}: syncs this repository and may create cluster-wide {kind['kind']}"
        for project in projects.values()
        if ours & set(project["spec"].get("sourceRepos", []))
        for kind in project["spec"].get("clusterResourceWhitelist", [])
        if kind.get("kind") != "Namespace"
    ]
    errors.extend(
        f"{name_of(app)}: managedNamespaceMetadata declares the namespace a second time (base/namespace does)"
        for app in objs
        if app["kind"] == "Application" and "managedNamespaceMetadata" in app["spec"].get("syncPolicy", {})
    )
    return errors


def check_argo_apps(objs: list[Obj], root: Path = REPO) -> list[str]:
    """Children of a root app: paths exist and render, charts pinned, waves, projects allow them."""
    projects = {o["metadata"]["name"]: o for o in objs if o["kind"] == "AppProject"}
    errors = [e for app in objs if app["kind"] == "Application" for e in _app_errors(app, projects, root)]
    errors.extend(
        f"{name_of(app)}: a chart with a resources-finalizer: deleting the Application deletes its CRDs"
        for app in objs
        if app["kind"] == "Application"
        and app["spec"]["source"].get("chart")
        and "resources-finalizer.argocd.argoproj.io" in app["metadata"].get("finalizers", [])
    )
    errors.extend(_least_privilege_errors(objs, projects))
    project = projects.get(NAMESPACE)
    if project and {d["namespace"] for d in project["spec"]["destinations"]} != {NAMESPACE}:
        errors.append(f"AppProject/{NAMESPACE}: allows namespaces other than {NAMESPACE}")
    return errors

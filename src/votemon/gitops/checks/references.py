"""Cross references: Services select pods, every named ConfigMap/Secret/PVC/ServiceAccount/target
exists, objects sit in the namespace, nothing is rendered twice."""

from __future__ import annotations

from votemon.gitops.objects import (
    pod_labels,
    pod_templates,
    references,
    secret_producers,
    selects,
)
from votemon.gitops.tree import (
    NAMESPACE,
    Obj,
    name_of,
)

CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterSecretStore",
    "StorageClass",
    "PersistentVolume",
    "GatewayClass",
    "PriorityClass",
}


def check_services_select_pods(objs: list[Obj]) -> list[str]:
    """Every Service selects the pods of some workload, on ports those pods declare."""
    errors = []
    pods = pod_labels(objs)
    for svc in (o for o in objs if o["kind"] == "Service"):
        selector = svc["spec"].get("selector", {})
        matched = [w for w, labels in pods if selects(selector, labels)]
        if not matched:
            errors.append(f"{name_of(svc)}: selector {selector} matches no pod template")
            continue
        ports = {
            p.get("name") or p["containerPort"]
            for w in matched
            for _, t in pod_templates([w])
            for c in t["spec"]["containers"]
            for p in c.get("ports", [])
        } | {
            p["containerPort"]
            for w in matched
            for _, t in pod_templates([w])
            for c in t["spec"]["containers"]
            for p in c.get("ports", [])
        }
        for port in svc["spec"].get("ports", []):
            if port.get("targetPort", port["port"]) not in ports:
                errors.append(f"{name_of(svc)}: targetPort {port.get('targetPort')} not declared by the pods")
    return errors


def _produced_secrets(objs: list[Obj]) -> set[str]:
    return {o["metadata"]["name"] for o in objs if o["kind"] == "Secret"} | set(secret_producers(objs))


def check_references(objs: list[Obj]) -> list[str]:
    """Every ConfigMap/Secret/PVC/ServiceAccount/target named by an object exists in the set.

    Secrets an operator makes from a rendered object count (ExternalSecrets, Strimzi's KafkaUsers
    and cluster CA: secret_producers); PVCs from StatefulSet volumeClaimTemplates count.
    """
    have: dict[str, set[str]] = {}
    for obj in objs:
        have.setdefault(obj["kind"], set()).add(obj["metadata"]["name"])
        for claim in (
            obj.get("spec", {}).get("volumeClaimTemplates", []) if obj["kind"] == "StatefulSet" else []
        ):
            have.setdefault("PersistentVolumeClaim", set()).add(claim["metadata"]["name"])
    have["Secret"] = _produced_secrets(objs)
    have.setdefault("ServiceAccount", set()).add("default")
    return [
        f"{name_of(obj)}: references missing {kind}/{name}"
        for obj in objs
        for kind, name in references(obj)
        if name not in have.get(kind, set())
    ]


def check_namespaces(objs: list[Obj], namespace: str = NAMESPACE) -> list[str]:
    return [
        f"{name_of(obj)}: namespace {obj['metadata'].get('namespace')!r}, expected {namespace!r}"
        for obj in objs
        if obj["kind"] not in CLUSTER_SCOPED and obj["metadata"].get("namespace") != namespace
    ]


def check_unique(objs: list[Obj]) -> list[str]:
    """No object is rendered twice (two Argo CD Applications would fight over it)."""
    seen: set[tuple[str, str, str]] = set()
    errors = []
    for obj in objs:
        key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if key in seen:
            errors.append(f"{name_of(obj)}: rendered more than once")
        seen.add(key)
    return errors

"""What rendered objects say about each other: the pods a workload owns, their labels, what each
object references by name, which Deployments an autoscaler owns. Shared by the checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from votemon.gitops.tree import (
    SERVICES,
    Obj,
)
from votemon.settings import Settings

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
AUTOSCALER_KINDS = {"HorizontalPodAutoscaler", "ScaledObject"}


def pod_templates(objs: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    """(workload, pod template) for every workload that owns pods."""
    for obj in objs:
        if obj.get("kind") in WORKLOAD_KINDS:
            yield obj, obj["spec"]["template"]
        elif obj.get("kind") == "CronJob":
            yield obj, obj["spec"]["jobTemplate"]["spec"]["template"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def label_selector_matches(selector: Obj, labels: dict[str, str]) -> bool:
    if not selects(selector.get("matchLabels", {}), labels) and selector.get("matchLabels"):
        return False
    for expr in selector.get("matchExpressions", []):
        present = labels.get(expr["key"])
        if expr["operator"] == "In" and present not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and present in expr["values"]:
            return False
        if expr["operator"] == "Exists" and present is None:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def pod_labels(objs: list[Obj]) -> list[tuple[Obj, dict[str, str]]]:
    return [(w, t.get("metadata", {}).get("labels", {})) for w, t in pod_templates(objs)]


def _refs(holder: Obj, keys: tuple[tuple[str, str, str], ...]) -> Iterator[tuple[str, str]]:
    """(kind, name) for each (kind, key, name field) present in holder and not marked optional."""
    for kind, key, field in keys:
        ref = holder.get(key)
        if ref and not ref.get("optional"):
            yield kind, ref[field]


VOLUME_REFS = (
    ("ConfigMap", "configMap", "name"),
    ("Secret", "secret", "secretName"),
    ("PersistentVolumeClaim", "persistentVolumeClaim", "claimName"),
)
PROJECTED_REFS = (("ConfigMap", "configMap", "name"), ("Secret", "secret", "name"))
ENV_FROM_REFS = (("ConfigMap", "configMapRef", "name"), ("Secret", "secretRef", "name"))
ENV_REFS = (("ConfigMap", "configMapKeyRef", "name"), ("Secret", "secretKeyRef", "name"))


def pod_references(pod: Obj) -> Iterator[tuple[str, str]]:
    """(kind, name) of every ConfigMap, Secret, PVC and ServiceAccount a pod spec needs."""
    for vol in pod.get("volumes", []):
        yield from _refs(vol, VOLUME_REFS)
        for source in vol.get("projected", {}).get("sources", []):
            yield from _refs(source, PROJECTED_REFS)
    for container in pod.get("initContainers", []) + pod.get("containers", []):
        for env_from in container.get("envFrom", []):
            yield from _refs(env_from, ENV_FROM_REFS)
        for env in container.get("env", []):
            yield from _refs(env.get("valueFrom", {}), ENV_REFS)
    if pod.get("serviceAccountName"):
        yield "ServiceAccount", pod["serviceAccountName"]
    for secret in pod.get("imagePullSecrets", []):
        yield "Secret", secret["name"]


def secret_producers(objs: list[Obj]) -> dict[str, Obj]:
    """Secret name -> the object whose operator makes that Secret: an ExternalSecret its target
    (External Secrets), a KafkaUser its own name after its Kafka's secretPrefix (Strimzi's User
    Operator) and a Kafka its cluster CA's certificate, <cluster>-cluster-ca-cert (Strimzi)."""
    kafkas = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Kafka"}
    producers: dict[str, Obj] = {}
    for obj in objs:
        name = obj["metadata"]["name"]
        if obj["kind"] == "ExternalSecret":
            producers[obj["spec"].get("target", {}).get("name") or name] = obj
        elif obj["kind"] == "Kafka":
            producers[kafka_ca_secret(name)] = obj
        elif obj["kind"] == "KafkaUser":
            kafka = kafkas.get(obj["metadata"].get("labels", {}).get("strimzi.io/cluster", ""), {})
            operator = kafka.get("spec", {}).get("entityOperator", {}).get("userOperator") or {}
            producers[operator.get("secretPrefix", "") + name] = obj
    return producers


def kafka_ca_secret(cluster: str) -> str:
    """Strimzi's Secret of a Kafka cluster's CA certificate (key ca.crt), which clients trust."""
    return f"{cluster}-cluster-ca-cert"


def _scaler_refs(obj: Obj) -> Iterator[tuple[str, str]]:
    target = obj["spec"]["scaleTargetRef"]
    yield target.get("kind", "Deployment"), target["name"]
    for trigger in obj["spec"].get("triggers", []):
        auth = trigger.get("authenticationRef")
        if auth:
            yield auth.get("kind", "TriggerAuthentication"), auth["name"]


def _trigger_auth_refs(obj: Obj) -> Iterator[tuple[str, str]]:
    for ref in obj["spec"].get("secretTargetRef", []):
        yield "Secret", ref["name"]
    for ref in obj["spec"].get("configMapTargetRef", []):
        yield "ConfigMap", ref["name"]


def _httproute_refs(obj: Obj) -> Iterator[tuple[str, str]]:
    for rule in obj["spec"].get("rules", []):
        for backend in rule.get("backendRefs", []):
            yield backend.get("kind", "Service"), backend["name"]
    for parent in obj["spec"].get("parentRefs", []):
        yield parent.get("kind", "Gateway"), parent["name"]


def _ingress_refs(obj: Obj) -> Iterator[tuple[str, str]]:
    for rule in obj["spec"].get("rules", []):
        for path in rule.get("http", {}).get("paths", []):
            yield "Service", path["backend"]["service"]["name"]


def _external_secret_refs(obj: Obj) -> Iterator[tuple[str, str]]:
    store = obj["spec"].get("secretStoreRef")
    if store:
        yield store.get("kind", "SecretStore"), store["name"]
    for item in obj["spec"].get("dataFrom", []):
        ref = item.get("sourceRef", {}).get("generatorRef")
        if ref:
            yield ref["kind"], ref["name"]


def _secret_store_refs(obj: Obj) -> Iterator[tuple[str, str]]:
    for provider in obj["spec"].get("provider", {}).values():
        account = provider.get("auth", {}).get("workloadIdentity", {}).get("serviceAccountRef")
        if account:
            yield "ServiceAccount", account["name"]


def _role_binding_refs(obj: Obj) -> Iterator[tuple[str, str]]:
    yield obj["roleRef"]["kind"], obj["roleRef"]["name"]
    for subject in obj.get("subjects", []):
        yield subject["kind"], subject["name"]


REFERENCE_FINDERS: dict[str, Callable[[Obj], Iterator[tuple[str, str]]]] = {
    "HorizontalPodAutoscaler": _scaler_refs,
    "ScaledObject": _scaler_refs,
    "TriggerAuthentication": _trigger_auth_refs,
    "HTTPRoute": _httproute_refs,
    "Ingress": _ingress_refs,
    "ExternalSecret": _external_secret_refs,
    "SecretStore": _secret_store_refs,
    "RoleBinding": _role_binding_refs,
}


def _other_references(obj: Obj) -> Iterator[tuple[str, str]]:
    """References held by non-pod objects: autoscalers and their authentication, routes, ingresses,
    external secrets, RBAC."""
    finder = REFERENCE_FINDERS.get(obj["kind"])
    return finder(obj) if finder else iter(())


def references(obj: Obj) -> list[tuple[str, str]]:
    """(kind, name) of everything an object needs to exist: its own references and its pods'."""
    refs = list(_other_references(obj))
    for _, template in pod_templates([obj]):
        refs.extend(pod_references(template["spec"]))
    return refs


def autoscaled(objs: list[Obj]) -> dict[str, Obj]:
    return {o["spec"]["scaleTargetRef"]["name"]: o for o in objs if o["kind"] in AUTOSCALER_KINDS}


def max_replicas(obj: Obj) -> int:
    if obj["kind"] == "HorizontalPodAutoscaler":
        return int(obj["spec"]["maxReplicas"])
    if obj["kind"] == "ScaledObject":
        return int(obj["spec"].get("maxReplicaCount", 100))
    return int(obj["spec"].get("replicas", 1))


def kept_on_delete(obj: Obj) -> bool:
    options = obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-options", "")
    return "Delete=false" in options.split(",")


def find_workload(objs: list[Obj], name: str) -> tuple[Obj, Obj] | None:
    return next(((w, t) for w, t in pod_templates(objs) if w["metadata"]["name"] == name), None)


def service_pods(objs: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    """(workload, pod template) of each votemon service (votemon.settings.SERVICES) that is rendered."""
    for name in SERVICES:
        found = find_workload(objs, name)
        if found is not None:
            yield found


def service_config(objs: list[Obj], pod: Obj) -> dict[str, str]:
    """The votemon settings a pod runs with: the app's defaults, then its ConfigMaps' values."""
    values = {name.upper(): str(field.default) for name, field in Settings.model_fields.items()}
    names = {name for kind, name in pod_references(pod) if kind == "ConfigMap"}
    for config in (o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] in names):
        values.update({k.upper(): str(v) for k, v in config.get("data", {}).items()})
    return values

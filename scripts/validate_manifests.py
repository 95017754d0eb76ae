"""Offline validation of the GitOps tree (base/, overlays/, apps/), used by tests/gitops.

Renders every Kustomize directory with the project's pinned `kustomize` (cluster/versions.env: the
kustomize Argo CD's repo-server renders with), validates each object against a schema (Kubernetes
kinds with kubernetes-validate --strict, custom resources with the CRD schemas in $CRDS_DIR, default
schemas/crds; a kind with no schema is an error) and runs the project's policy
checks. Every check is a function from rendered objects to a list of error strings (empty: passed).

    .venv/bin/python scripts/validate_manifests.py     # prints a summary, exit 1 on any error
"""

from __future__ import annotations

import copy
import functools
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

# The pinned kustomize has one home, scripts/delivery (the workflows import it on a bare runner).
sys.path.append(str(Path(__file__).resolve().parent / "delivery"))
from pinned_kustomize import kustomize

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "so1-p2"
ARGOCD_NAMESPACE = "argocd"
# GKE's regular release channel runs 1.35 in late 2026; kubernetes-validate 1.37.0 ships it.
K8S_VERSION = "1.35.0"
ENVS = ("dev", "gke")
TREES = ("base", "overlays", "apps")
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
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
AUTOSCALER_KINDS = {"HorizontalPodAutoscaler", "ScaledObject"}

Obj = dict[str, Any]
Check = Callable[[list[Obj]], list[str]]


def crds_dir() -> Path:
    return Path(os.environ.get("CRDS_DIR", REPO / "schemas" / "crds"))


def name_of(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


# --- rendering -------------------------------------------------------------------------------------


def kustomization_dirs(root: Path = REPO) -> list[Path]:
    """Every directory under base/, overlays/ and apps/ that `kustomize build` can build."""
    dirs = []
    for tree in TREES:
        for file in sorted((root / tree).rglob("kustomization.yaml")):
            if yaml.safe_load(file.read_text()).get("kind", "Kustomization") == "Kustomization":
                dirs.append(file.parent)
    return dirs


def render_uncached(path: Path) -> list[Obj]:
    return [doc for doc in yaml.load_all(kustomize("build", path), Loader=LOADER) if doc]


@functools.cache
def render(path: Path) -> tuple[Obj, ...]:
    """Rendered objects of one kustomization, once per process (callers must not mutate them)."""
    return tuple(render_uncached(path.resolve()))


def app_paths(env: str, root: Path = REPO) -> list[Path]:
    """The git paths the Argo CD Applications of apps/<env> sync (Helm chart sources excluded)."""
    return [
        root / app["spec"]["source"]["path"]
        for app in render(root / "apps" / env)
        if app["kind"] == "Application" and app["spec"]["source"].get("path")
    ]


def env_objects(env: str, root: Path = REPO) -> list[Obj]:
    """Everything Argo CD applies from git in one environment: the union of its Applications' paths."""
    return [obj for path in app_paths(env, root) for obj in render(path)]


# --- schemas ---------------------------------------------------------------------------------------


def _close_nested(schema: Any) -> None:
    """Reject unknown fields wherever the structural schema lists the fields (as the API server's
    strict field validation does), except where it preserves unknown fields on purpose."""
    if not isinstance(schema, dict):
        return
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        schema["additionalProperties"] = False
    for child in schema.get("properties", {}).values():
        _close_nested(child)
    for key in ("items", "additionalProperties"):
        _close_nested(schema.get(key))
    for key in ("allOf", "anyOf", "oneOf"):
        for child in schema.get(key, []):
            _close_nested(child)


def _closed(schema: Obj) -> Obj:
    schema = copy.deepcopy(schema)
    _close_nested(schema)
    props = schema.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props.setdefault("metadata", {"type": "object"})
    schema.setdefault("additionalProperties", False)
    return schema


@functools.cache
def crd_schemas(directory: Path | None = None) -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> validator for every served version of every CRD in the directory."""
    directory = directory or crds_dir()
    if not directory.is_dir():
        raise FileNotFoundError(f"CRD schemas not found in {directory} (set CRDS_DIR)")
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for file in sorted(directory.glob("*.yaml")):
        for crd in yaml.load_all(file.read_text(), Loader=LOADER):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                schema = _closed(version["schema"]["openAPIV3Schema"])
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                validators[key] = jsonschema.Draft7Validator(schema)
    return validators


def _is_core_group(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def schema_errors(obj: Obj, schemas: dict[tuple[str, str], Any] | None = None) -> list[str]:
    """Strict schema errors of one object; an object whose kind has no schema is an error."""
    schemas = crd_schemas() if schemas is None else schemas
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    where = name_of(obj)
    if key in schemas:
        return [
            f"{where}: {'/'.join(map(str, err.absolute_path)) or '<root>'}: {err.message}"
            for err in schemas[key].iter_errors(obj)
        ]
    if not _is_core_group(key[0]):
        return [f"{where}: no schema for {key[0]} {key[1]} (add its CRD to {crds_dir()})"]
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where}: no schema for {key[0]} {key[1]} in Kubernetes {K8S_VERSION}"]
    except kubernetes_validate.ValidationError as err:
        path = "/".join(map(str, err.absolute_path)) or "<root>"
        return [f"{where}: {path}: {err.message}"]
    return []


def check_schemas(objs: list[Obj]) -> list[str]:
    return [error for obj in objs for error in schema_errors(obj)]


# --- pods ------------------------------------------------------------------------------------------


def pod_templates(objs: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    """(workload, pod template) for every workload that owns pods."""
    for obj in objs:
        if obj.get("kind") in WORKLOAD_KINDS:
            yield obj, obj["spec"]["template"]
        elif obj.get("kind") == "CronJob":
            yield obj, obj["spec"]["jobTemplate"]["spec"]["template"]


def _container_errors(pod: Obj, container: Obj, init: bool) -> list[str]:
    errors = []
    psc = pod.get("securityContext", {})
    sc = container.get("securityContext", {})
    if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
        errors.append("runAsNonRoot is not true")
    if sc.get("runAsUser", psc.get("runAsUser")) == 0:
        errors.append("runs as uid 0")
    if sc.get("allowPrivilegeEscalation") is not False:
        errors.append("allowPrivilegeEscalation is not false")
    if sc.get("readOnlyRootFilesystem") is not True:
        errors.append("readOnlyRootFilesystem is not true")
    if sc.get("privileged"):
        errors.append("privileged")
    caps = sc.get("capabilities", {})
    if "ALL" not in caps.get("drop", []):
        errors.append("capabilities do not drop ALL")
    if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
        errors.append(f"adds capabilities {caps['add']}")
    seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
    if seccomp not in {"RuntimeDefault", "Localhost"}:
        errors.append("seccompProfile is not RuntimeDefault")
    resources = container.get("resources", {})
    for need in ("requests.cpu", "requests.memory", "limits.memory"):
        section, key = need.split(".")
        if key not in resources.get(section, {}):
            errors.append(f"no resources.{need}")
    if not init:
        errors.extend(
            f"no {probe}" for probe in ("livenessProbe", "readinessProbe") if probe not in container
        )
    return errors


def check_pod_security(objs: list[Obj]) -> list[str]:
    """Restricted Pod Security plus resources and probes, for every container of every workload."""
    errors = []
    for workload, template in pod_templates(objs):
        pod = template["spec"]
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(flag):
                errors.append(f"{name_of(workload)}: {flag}")
        errors.extend(
            f"{name_of(workload)}: hostPath volume {vol['name']}"
            for vol in pod.get("volumes", [])
            if "hostPath" in vol
        )
        for init in (True, False):
            for container in pod.get("initContainers" if init else "containers", []):
                errors.extend(
                    f"{name_of(workload)}/{container['name']}: {error}"
                    for error in _container_errors(pod, container, init)
                )
    return errors


def image_error(image: str) -> str | None:
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image} has no tag (means latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image} uses tag latest"
    return None


def check_images(objs: list[Obj]) -> list[str]:
    errors = []
    for workload, template in pod_templates(objs):
        spec = template["spec"]
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            error = image_error(container["image"])
            if error:
                errors.append(f"{name_of(workload)}/{container['name']}: {error}")
    return errors


# --- cross references ------------------------------------------------------------------------------


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def _label_selector_matches(selector: Obj, labels: dict[str, str]) -> bool:
    if not _selects(selector.get("matchLabels", {}), labels) and selector.get("matchLabels"):
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


def _pod_labels(objs: list[Obj]) -> list[tuple[Obj, dict[str, str]]]:
    return [(w, t.get("metadata", {}).get("labels", {})) for w, t in pod_templates(objs)]


def check_services_select_pods(objs: list[Obj]) -> list[str]:
    """Every Service selects the pods of some workload, on ports those pods declare."""
    errors = []
    pods = _pod_labels(objs)
    for svc in (o for o in objs if o["kind"] == "Service"):
        selector = svc["spec"].get("selector", {})
        matched = [w for w, labels in pods if _selects(selector, labels)]
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
    names = {o["metadata"]["name"] for o in objs if o["kind"] == "Secret"}
    for es in (o for o in objs if o["kind"] == "ExternalSecret"):
        names.add(es["spec"].get("target", {}).get("name") or es["metadata"]["name"])
    return names


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


def _pod_references(pod: Obj) -> Iterator[tuple[str, str]]:
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


def _scaler_refs(obj: Obj) -> Iterator[tuple[str, str]]:
    target = obj["spec"]["scaleTargetRef"]
    yield target.get("kind", "Deployment"), target["name"]


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
    "HTTPRoute": _httproute_refs,
    "Ingress": _ingress_refs,
    "ExternalSecret": _external_secret_refs,
    "SecretStore": _secret_store_refs,
    "RoleBinding": _role_binding_refs,
}


def _other_references(obj: Obj) -> Iterator[tuple[str, str]]:
    """References held by non-pod objects: autoscalers, routes, ingresses, external secrets, RBAC."""
    finder = REFERENCE_FINDERS.get(obj["kind"])
    return finder(obj) if finder else iter(())


def check_references(objs: list[Obj]) -> list[str]:
    """Every ConfigMap/Secret/PVC/ServiceAccount/target named by an object exists in the set.

    Secrets produced by ExternalSecrets count; PVCs from StatefulSet volumeClaimTemplates count.
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
        for kind, name in _references(obj)
        if name not in have.get(kind, set())
    ]


def _references(obj: Obj) -> list[tuple[str, str]]:
    """(kind, name) of everything an object needs to exist: its own references and its pods'."""
    refs = list(_other_references(obj))
    for _, template in pod_templates([obj]):
        refs.extend(_pod_references(template["spec"]))
    return refs


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


# --- scaling, disruption, network ------------------------------------------------------------------


def _autoscaled(objs: list[Obj]) -> dict[str, Obj]:
    return {o["spec"]["scaleTargetRef"]["name"]: o for o in objs if o["kind"] in AUTOSCALER_KINDS}


def check_autoscaling(objs: list[Obj]) -> list[str]:
    """An autoscaled Deployment leaves `replicas` out; its autoscaler has CPU requests to work on."""
    errors = []
    scalers = _autoscaled(objs)
    for deploy in (o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] in scalers):
        if "replicas" in deploy["spec"]:
            errors.append(
                f"{name_of(deploy)}: sets replicas although {name_of(scalers[deploy['metadata']['name']])}"
            )
    return errors


def _max_replicas(obj: Obj) -> int:
    if obj["kind"] == "HorizontalPodAutoscaler":
        return int(obj["spec"]["maxReplicas"])
    if obj["kind"] == "ScaledObject":
        return int(obj["spec"].get("maxReplicaCount", 100))
    return int(obj["spec"].get("replicas", 1))


def check_pdbs(objs: list[Obj]) -> list[str]:
    """Every Deployment that runs (or may run) more than one pod has a PodDisruptionBudget."""
    scalers = _autoscaled(objs)
    pdbs = [o for o in objs if o["kind"] == "PodDisruptionBudget"]
    errors = []
    for deploy, labels in _pod_labels([o for o in objs if o["kind"] == "Deployment"]):
        size = _max_replicas(scalers.get(deploy["metadata"]["name"], deploy))
        if size > 1 and not any(_label_selector_matches(p["spec"]["selector"], labels) for p in pdbs):
            errors.append(f"{name_of(deploy)}: {size} replicas and no PodDisruptionBudget")
    return errors


def check_network_policies(objs: list[Obj]) -> list[str]:
    """A default-deny policy (both directions) exists and every workload has its own policy."""
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    errors = []
    deny = [
        p
        for p in policies
        if p["spec"].get("podSelector") == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    if not deny:
        errors.append("no default-deny NetworkPolicy (empty podSelector, Ingress+Egress, no rules)")
    for workload, labels in _pod_labels(objs):
        if not any(_label_selector_matches(p["spec"]["podSelector"], labels) for p in policies):
            errors.append(f"{name_of(workload)}: no NetworkPolicy selects its pods")
    return errors


# --- the application contract ----------------------------------------------------------------------


def check_kafka(objs: list[Obj]) -> list[str]:
    """votes-submitted keeps 2 h and has at least as many partitions as consumers can exist."""
    topics = {o["metadata"]["name"]: o for o in objs if o["kind"] == "KafkaTopic"}
    errors = [f"KafkaTopic/{t}: missing" for t in ("votes-submitted", "votes-dead-letter") if t not in topics]
    if "votes-submitted" in topics:
        topic = topics["votes-submitted"]["spec"]
        consumers = _max_replicas(_autoscaled(objs).get("consumer", {"kind": "Deployment", "spec": {}}))
        if topic["partitions"] < max(consumers, 6):
            errors.append(
                f"KafkaTopic/votes-submitted: {topic['partitions']} partitions < {max(consumers, 6)}"
            )
        if int(topic.get("config", {}).get("retention.ms", 0)) != 7_200_000:
            errors.append("KafkaTopic/votes-submitted: retention.ms is not 7200000 (2 h)")
    return errors


def check_grpc_balancing(objs: list[Obj]) -> list[str]:
    """The front reaches every grpc-server pod: GRPC_TARGET is dns:/// on a headless Service.

    A ClusterIP would pin each HTTP/2 connection to one pod; with a headless Service DNS returns
    every ready pod and the client's round_robin policy spreads the calls.
    """
    config = next((o for o in objs if o["kind"] == "ConfigMap" and base_name(o) == "votemon-config"), None)
    if config is None:
        return ["ConfigMap/votemon-config: missing"]
    target = config["data"].get("GRPC_TARGET", "")
    match = re.fullmatch(r"dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)", target)
    if not match:
        return [f"GRPC_TARGET {target!r} is not dns:///<service>.<namespace>.svc...:<port>"]
    service, namespace, port = match.group(1), match.group(2), int(match.group(3))
    svc = next((o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == service), None)
    errors = []
    if svc is None or svc["metadata"].get("namespace") != namespace:
        return [f"GRPC_TARGET names Service {service}.{namespace}, which is not rendered"]
    if svc["spec"].get("clusterIP") != "None":
        errors.append(f"{name_of(svc)}: not headless; HTTP/2 connections would stick to one pod")
    if port not in {p["port"] for p in svc["spec"]["ports"]}:
        errors.append(f"{name_of(svc)}: has no port {port}")
    grpc_pods = [w for w, labels in _pod_labels(objs) if _selects(svc["spec"].get("selector", {}), labels)]
    if [name_of(w) for w in grpc_pods] != ["Deployment/grpc-server"]:
        errors.append(f"{name_of(svc)}: selects {[name_of(w) for w in grpc_pods]}, not the grpc-server pods")
    return errors


# --- Argo CD ---------------------------------------------------------------------------------------


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
    producers: dict[tuple[str, str], Obj] = {}
    for obj in objs:
        producers[(obj["kind"], obj["metadata"]["name"])] = obj
        if obj["kind"] == "ExternalSecret":
            target = obj["spec"].get("target", {}).get("name") or obj["metadata"]["name"]
            producers[("Secret", target)] = obj
    return [
        f"{name_of(obj)} (wave {wave(obj)}) references {kind}/{name}, synced later (wave {wave(producer)})"
        for obj in objs
        for kind, name in _references(obj)
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


def _kept_on_delete(obj: Obj) -> bool:
    options = obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-options", "")
    return "Delete=false" in options.split(",")


def check_namespace_kept(objs: list[Obj]) -> list[str]:
    """Deleting the Application that declares the namespace must not delete everything in it."""
    return [
        f"{name_of(ns)}: no sync-options Delete=false: deleting its Application would empty the namespace"
        for ns in objs
        if ns["kind"] == "Namespace" and not _kept_on_delete(ns)
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
    errors.extend(
        f"{name_of(p)}: no sync-options Delete=false: deleting the root app would delete its own project"
        for p in projects.values()
        if not _kept_on_delete(p)
    )
    errors.extend(_least_privilege_errors(objs, projects))
    project = projects.get(NAMESPACE)
    if project and {d["namespace"] for d in project["spec"]["destinations"]} != {NAMESPACE}:
        errors.append(f"AppProject/{NAMESPACE}: allows namespaces other than {NAMESPACE}")
    return errors


# --- runtime rules (issue 12): what breaks on a running cluster ------------------------------------

SERVICES = ("front", "grpc-server", "consumer", "results")
# Only these read the datastore credentials (votemon.store); front and grpc-server never do.
CREDENTIAL_CONSUMERS = {"consumer", "results"}
CREDENTIAL_SECRETS = {"redis-auth", "mongodb-auth"}
# Where pods resolve names: kube-dns pods, Cloud DNS for GKE (the metadata server) and NodeLocal
# DNSCache (a link-local address on every node, default on Autopilot and recent Standard clusters).
DNS_LINK_LOCAL = {"169.254.169.254": "Cloud DNS", "169.254.20.10": "NodeLocal DNSCache"}
GOOGLE_LB_KEEPALIVE_SECONDS = 600
# kustomize's name suffix for generated ConfigMaps and Secrets (a 10-character hash).
GENERATED_SUFFIX = re.compile(r"-[bcdfghkmt2-9]{10}$")


def base_name(obj: Obj) -> str:
    """An object's name without the hash suffix a kustomize generator adds."""
    return GENERATED_SUFFIX.sub("", obj["metadata"]["name"])


def _workload(objs: list[Obj], name: str) -> tuple[Obj, Obj] | None:
    return next(((w, t) for w, t in pod_templates(objs) if w["metadata"]["name"] == name), None)


def _service_pods(objs: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    """(workload, pod template) of each of the four votemon services that is rendered."""
    for name in SERVICES:
        found = _workload(objs, name)
        if found is not None:
            yield found


def _service_config(objs: list[Obj], pod: Obj) -> dict[str, str]:
    """The votemon settings a pod runs with: the app's defaults, then its ConfigMaps' values."""
    sys.path.insert(0, str(REPO / "src"))
    from votemon.settings import Settings  # noqa: PLC0415 - only the runtime rules need the app

    values = {name.upper(): str(field.default) for name, field in Settings.model_fields.items()}
    names = {name for kind, name in _pod_references(pod) if kind == "ConfigMap"}
    for config in (o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] in names):
        values.update({k.upper(): str(v) for k, v in config.get("data", {}).items()})
    return values


def check_front_drain(objs: list[Obj]) -> list[str]:
    """The front behind Google's load balancer: keep-alive above its 600 s, a preStop sleep while
    the NEG drops the endpoint, and a grace period covering preStop + drain + in-flight requests."""
    found = _workload(objs, "front")
    if found is None:
        return ["Deployment/front: missing"]
    _, template = found
    pod = template["spec"]
    config = _service_config(objs, pod)
    errors = []
    if float(config["KEEP_ALIVE_TIMEOUT_SECONDS"]) <= GOOGLE_LB_KEEPALIVE_SECONDS:
        errors.append(
            f"Deployment/front: keep-alive {config['KEEP_ALIVE_TIMEOUT_SECONDS']} s is not above the "
            f"load balancer's {GOOGLE_LB_KEEPALIVE_SECONDS} s (502s on reused connections)"
        )
    pre_stop = pod["containers"][0].get("lifecycle", {}).get("preStop", {})
    sleep = int(pre_stop.get("sleep", {}).get("seconds", 0))
    if sleep <= 0:
        errors.append("Deployment/front: no preStop sleep (502s while the NEG still sends to a stopping pod)")
    needed = sleep + float(config["FRONT_DRAIN_SECONDS"]) + float(config["SHUTDOWN_GRACE_SECONDS"])
    grace = int(pod.get("terminationGracePeriodSeconds", 30))
    if grace < needed:
        errors.append(
            f"Deployment/front: terminationGracePeriodSeconds {grace} < preStop + drain + grace = {needed:g}"
        )
    return errors


def _covers(peer: Obj, address: str) -> bool:
    import ipaddress  # noqa: PLC0415

    block = peer.get("ipBlock")
    if not block:
        return False
    network = ipaddress.ip_network(block["cidr"])
    excepted = any(ipaddress.ip_address(address) in ipaddress.ip_network(e) for e in block.get("except", []))
    return ipaddress.ip_address(address) in network and not excepted


def _allows_dns(rule: Obj, protocol: str) -> bool:
    return any(
        p.get("port") in (53, "dns", "dns-tcp") and p.get("protocol", "TCP") == protocol
        for p in rule.get("ports", [])
    ) or not rule.get("ports")


def check_dns_egress(objs: list[Obj]) -> list[str]:
    """Every pod may resolve names wherever the cluster's DNS lives: kube-dns pods, Cloud DNS
    (169.254.169.254) and NodeLocal DNSCache (169.254.20.10), on UDP and TCP 53."""
    rules = [
        rule
        for p in objs
        if p["kind"] == "NetworkPolicy" and p["spec"].get("podSelector") == {}
        for rule in p["spec"].get("egress", [])
    ]
    errors = []
    for protocol in ("UDP", "TCP"):
        dns_rules = [r for r in rules if _allows_dns(r, protocol)]
        peers = [peer for r in dns_rules for peer in r.get("to", [])]
        if not any(
            peer.get("podSelector", {}).get("matchLabels", {}).get("k8s-app") == "kube-dns" for peer in peers
        ):
            errors.append(f"DNS egress: no rule for every pod allows kube-dns pods on {protocol} 53")
        errors.extend(
            f"DNS egress: no rule for every pod allows {address} ({what}) on {protocol} 53"
            for address, what in DNS_LINK_LOCAL.items()
            if not any(_covers(peer, address) for peer in peers)
        )
    return errors


def check_secret_rotation(objs: list[Obj]) -> list[str]:
    """Datastore passwords change only through the rotation runbook: an ExternalSecret refreshing on
    its own would hand pods a password MongoDB (kept from initialisation) and Redis (read at start)
    do not have. And no password on a command line (`ps`, /proc/<pid>/cmdline)."""
    errors = [
        f"{name_of(es)}: refreshPolicy {es['spec'].get('refreshPolicy', 'Periodic')}, not CreatedOnce"
        for es in objs
        if es["kind"] == "ExternalSecret" and es["spec"].get("refreshPolicy") != "CreatedOnce"
    ]
    for workload, template in pod_templates(objs):
        for container in template["spec"].get("initContainers", []) + template["spec"]["containers"]:
            secret_env = {
                e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
            }
            argv = " ".join(map(str, container.get("command", []) + container.get("args", [])))
            errors.extend(
                f"{name_of(workload)}/{container['name']}: secret {name} on the command line"
                for name in sorted(secret_env)
                if f"$({name})" in argv
            )
            if re.search(r"--requirepass\b|--pass(word)?[ =]", argv):
                errors.append(
                    f"{name_of(workload)}/{container['name']}: a password option on the command line"
                )
    return errors


def check_grafana(objs: list[Obj]) -> list[str]:
    """Grafana logs to the console (its default file log fails on a read-only root filesystem) and
    does not fetch its default app plugins at every start (only the pinned plugin it needs)."""
    found = _workload(objs, "grafana")
    if found is None:
        return []
    container = found[1]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    errors = []
    if env.get("GF_LOG_MODE") != "console":
        errors.append("Deployment/grafana: GF_LOG_MODE is not console (file logging on a read-only root)")
    if env.get("GF_PLUGINS_PREINSTALL_DISABLED") == "true" and env.get("GF_PLUGINS_PREINSTALL_SYNC"):
        errors.append(
            "Deployment/grafana: GF_PLUGINS_PREINSTALL_DISABLED also drops GF_PLUGINS_PREINSTALL_SYNC"
        )
    disabled = set(filter(None, (env.get("GF_PLUGINS_DISABLE_PLUGINS") or "").split(",")))
    missing = sorted(GRAFANA_DEFAULT_APPS - disabled)
    if missing and env.get("GF_PLUGINS_PREINSTALL_DISABLED") != "true":
        errors.append(f"Deployment/grafana: default app plugins still preinstalled: {', '.join(missing)}")
    if env.get("GF_PLUGINS_PREINSTALL_AUTO_UPDATE") != "false":
        errors.append("Deployment/grafana: GF_PLUGINS_PREINSTALL_AUTO_UPDATE is not false (the pin moves)")
    return errors


# Grafana 12's default preinstalled app plugins (pkg/setting/setting_plugins.go
# defaultPreinstallPlugins); the data sources in that list ship with Grafana itself.
GRAFANA_DEFAULT_APPS = {
    "grafana-lokiexplore-app",
    "grafana-pyroscope-app",
    "grafana-exploretraces-app",
    "grafana-metricsdrilldown-app",
    "grafana-advisor-app",
}


def check_config_rollout(objs: list[Obj]) -> list[str]:
    """A change of the services' ConfigMaps rolls their pods: each is generated (hash suffix in its
    name, so the pod template changes with it) or the template carries a checksum annotation."""
    return [
        f"{name_of(workload)}: ConfigMap/{ref} is not generated (a change would not roll the pods)"
        for workload, template in _service_pods(objs)
        if not any(key.startswith("checksum/") for key in template.get("metadata", {}).get("annotations", {}))
        for kind, ref in _pod_references(template["spec"])
        if kind == "ConfigMap" and not GENERATED_SUFFIX.search(ref)
    ]


def check_credentials(objs: list[Obj]) -> list[str]:
    """Datastore credentials reach only the services that use them (consumer and results)."""
    return [
        f"{name_of(workload)}: gets Secret/{ref}, which it does not use"
        for workload, template in _service_pods(objs)
        if workload["metadata"]["name"] not in CREDENTIAL_CONSUMERS
        for kind, ref in _pod_references(template["spec"])
        if kind == "Secret" and ref in CREDENTIAL_SECRETS
    ]


def check_spread(objs: list[Obj]) -> list[str]:
    """The four services spread over zones and nodes, and Kafka places replicas by zone (rack), so
    one node or zone lost keeps min.insync.replicas."""
    errors: list[str] = []
    for workload, template in _service_pods(objs):
        keys = {c.get("topologyKey") for c in template["spec"].get("topologySpreadConstraints", [])}
        errors.extend(
            f"{name_of(workload)}: no topologySpreadConstraint on {key}"
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
            if key not in keys
        )
    for kafka in (o for o in objs if o["kind"] == "Kafka"):
        if kafka["spec"]["kafka"].get("rack", {}).get("topologyKey") != "topology.kubernetes.io/zone":
            errors.append(f"{name_of(kafka)}: no rack on topology.kubernetes.io/zone")
    return errors


def _admits(policy: Obj, labels: dict[str, str], port: int | str, namespace: str) -> bool:
    if not _label_selector_matches(policy["spec"]["podSelector"], labels):
        return False
    for rule in policy["spec"].get("ingress", []):
        ports = [p.get("port") for p in rule.get("ports", [])]
        if ports and port not in ports:
            continue
        for peer in rule.get("from", []):
            ns = peer.get("namespaceSelector", {}).get("matchLabels", {})
            if ns.get("kubernetes.io/metadata.name") == namespace and not peer.get("podSelector"):
                return True
    return False


def check_gmp(objs: list[Obj]) -> list[str]:
    """Google Managed Prometheus scrapes from namespace gmp-system: every port a PodMonitoring
    names is open to that namespace on the pods it selects."""
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    errors = []
    for monitor in (o for o in objs if o["kind"] == "PodMonitoring"):
        for workload, labels in _pod_labels(objs):
            if not _label_selector_matches(monitor["spec"]["selector"], labels):
                continue
            ports = {
                p["name"]: p["containerPort"]
                for _, t in pod_templates([workload])
                for c in t["spec"]["containers"]
                for p in c.get("ports", [])
                if "name" in p
            }
            for endpoint in monitor["spec"].get("endpoints", []):
                port = endpoint["port"]
                numbers = {port, ports.get(str(port), port)}
                if not any(_admits(p, labels, n, "gmp-system") for p in policies for n in numbers):
                    errors.append(
                        f"{name_of(workload)}: {name_of(monitor)} scrapes port {port}, closed to gmp-system"
                    )
    return errors


RUNTIME_CHECKS: dict[str, Check] = {
    "namespace kept": check_namespace_kept,
    "dns egress": check_dns_egress,
    "secret rotation": check_secret_rotation,
    "grafana": check_grafana,
    "config rollout": check_config_rollout,
    "credentials": check_credentials,
    "gmp": check_gmp,
}
GKE_RUNTIME_CHECKS: dict[str, Check] = {"front drain": check_front_drain, "spread": check_spread}


# --- running everything ----------------------------------------------------------------------------

# Checks for every rendered base and overlay (an overlay may be one stage of an environment).
DIR_CHECKS: dict[str, Check] = {
    "schemas": check_schemas,
    "pod security": check_pod_security,
    "sync waves": wave_errors,
    "idempotent apply": check_idempotent_apply,
}
# Checks over an environment: the union of what its Argo CD Applications sync.
ENV_CHECKS: dict[str, Check] = {
    "images": check_images,
    "services select pods": check_services_select_pods,
    "references": check_references,
    "namespaces": check_namespaces,
    "unique": check_unique,
    "autoscaling": check_autoscaling,
    "network policies": check_network_policies,
    "kafka": check_kafka,
    "grpc balancing": check_grpc_balancing,
}
GKE_CHECKS: dict[str, Check] = {"pdbs": check_pdbs}


def env_checks(env: str) -> dict[str, Check]:
    return ENV_CHECKS | RUNTIME_CHECKS | (GKE_CHECKS | GKE_RUNTIME_CHECKS if env == "gke" else {})


def main() -> int:
    failures = 0
    dirs = kustomization_dirs()
    objects = 0
    for path in dirs:
        objs = list(render(path))
        objects += len(objs)
        for label, check in DIR_CHECKS.items():
            for error in check(objs):
                failures += 1
                print(f"{path.relative_to(REPO)}: {label}: {error}")
    for env in ENVS:
        objs = env_objects(env)
        for label, check in env_checks(env).items():
            for error in check(objs):
                failures += 1
                print(f"env {env}: {label}: {error}")
        for error in check_argo_apps(list(render(REPO / "apps" / env))) + check_application_waves(env):
            failures += 1
            print(f"apps/{env}: {error}")
        print(f"env {env}: {len(objs)} objects from {len(app_paths(env))} Application paths")
    for error in check_argo_sources():
        failures += 1
        print(error)
    print(f"{len(dirs)} kustomizations, {objects} rendered objects, {failures} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

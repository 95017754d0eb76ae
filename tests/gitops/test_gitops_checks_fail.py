"""Every check can fail: each test breaks one thing in a copy of the rendered gke environment (or
feeds a bad object) and expects the check to name it."""

from __future__ import annotations

import copy
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.gitops.gitops_support import argo_copy, container, env_copy, find
from votemon.gitops import checks, tree
from votemon.gitops.checks import pods, schemas
from votemon.gitops.objects import pod_templates

HERE = Path(__file__).parent

Mutation = Callable[[list[tree.Obj]], None]


def front(objs: list[tree.Obj]) -> tree.Obj:
    return container(objs, "Deployment", "front")


def set_in(getter: Callable[[list[tree.Obj]], tree.Obj], path: str, value: Any) -> Mutation:
    """A mutation that sets path (a.b.c; value None deletes) in the object getter returns."""

    def mutate(objs: list[tree.Obj]) -> None:
        target = getter(objs)
        *parents, last = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value

    return mutate


def drop(kind: str, name: str) -> Mutation:
    return lambda objs: objs.remove(find(objs, kind, name))


def pod(objs: list[tree.Obj]) -> tree.Obj:
    spec: tree.Obj = find(objs, "Deployment", "front")["spec"]["template"]["spec"]
    return spec


POD_CASES = {
    "runAsNonRoot": [
        set_in(pod, "securityContext.runAsNonRoot", None),
        set_in(front, "securityContext.runAsNonRoot", None),
    ],
    "allowPrivilegeEscalation": [set_in(front, "securityContext.allowPrivilegeEscalation", True)],
    "readOnlyRootFilesystem": [set_in(front, "securityContext.readOnlyRootFilesystem", False)],
    "drop ALL": [set_in(front, "securityContext.capabilities.drop", [])],
    "adds capabilities": [set_in(front, "securityContext.capabilities.add", ["NET_ADMIN"])],
    "privileged": [set_in(front, "securityContext.privileged", True)],
    "seccompProfile": [set_in(pod, "securityContext.seccompProfile", None)],
    "hostNetwork": [set_in(pod, "hostNetwork", True)],
    "resources.requests.cpu": [set_in(front, "resources.requests.cpu", None)],
    "resources.limits.memory": [set_in(front, "resources.limits", None)],
    "livenessProbe": [set_in(front, "livenessProbe", None)],
    "readinessProbe": [set_in(front, "readinessProbe", None)],
    "uid 0": [set_in(front, "securityContext.runAsUser", 0)],
}


@pytest.mark.parametrize("needle", list(POD_CASES))
def test_pod_security_fails(needle: str) -> None:
    objs = env_copy("gke")
    for mutate in POD_CASES[needle]:
        mutate(objs)
    errors = checks.check_pod_security(objs)
    assert errors and all("Deployment/front" in e for e in errors), errors
    assert any(needle in e for e in errors), errors


@pytest.mark.parametrize(
    ("image", "needle"),
    [
        ("ghcr.io/so1-p2/votemon", "no tag"),
        ("ghcr.io/so1-p2/votemon:latest", "latest"),
        ("localhost:5000/x", "no tag"),
        ("docker.io/library/redis:8.2.4-alpine", "third party's"),
        ("redis@sha256:" + "0" * 64, "third party's"),
        ("quay.io/prometheus/prometheus:v3.7.3@sha256:" + "0" * 63, "third party's"),
    ],
)
def test_images_fail(image: str, needle: str) -> None:
    objs = env_copy("gke")
    front(objs)["image"] = image
    assert any(needle in e for e in checks.check_images(objs))
    for pinned in (
        "ghcr.io/so1-p2/votemon@sha256:" + "0" * 64,
        "localhost:5000/redis:8.2.4@sha256:" + "a" * 64,
    ):
        front(objs)["image"] = pinned
        assert checks.check_images(objs) == []


def test_images_awaiting_a_digest_are_exactly_those_still_pinned_by_tag() -> None:
    """The follow-up list (docs/security.md) names only images in use: it shrinks as digests land."""
    in_use = {
        c["image"]
        for env in tree.ENVS
        for _, template in pod_templates(tree.env_objects(env))
        for c in template["spec"].get("initContainers", []) + template["spec"]["containers"]
    }
    assert in_use >= pods.AWAITING_DIGEST, pods.AWAITING_DIGEST - in_use


def svc(name: str) -> Callable[[list[tree.Obj]], tree.Obj]:
    return lambda objs: find(objs, "Service", name)


def deployment_spec(name: str) -> Callable[[list[tree.Obj]], tree.Obj]:
    return lambda objs: find(objs, "Deployment", name)["spec"]


CASES: list[tuple[str, Callable[[list[tree.Obj]], list[str]], Mutation, str]] = [
    (
        "service selector",
        checks.check_services_select_pods,
        set_in(svc("front"), "spec.selector", {"app": "x"}),
        "matches no pod",
    ),
    (
        "service port",
        checks.check_services_select_pods,
        set_in(svc("results"), "spec.ports", [{"port": 1, "targetPort": 2}]),
        "targetPort 2",
    ),
    (
        "missing secret",
        checks.check_references,
        drop("ExternalSecret", "redis-auth"),
        "Secret/redis-auth",
    ),
    (
        "missing configmap",
        checks.check_references,
        drop("ConfigMap", "votemon-config"),
        "ConfigMap/votemon-config",
    ),
    (
        "missing backend",
        checks.check_references,
        drop("Service", "front"),
        "Service/front",
    ),
    (
        "missing store",
        checks.check_references,
        drop("SecretStore", "gcp-secret-manager"),
        "SecretStore/",
    ),
    (
        "missing kafka user",
        checks.check_references,
        drop("KafkaUser", "grpc-server"),
        "Deployment/grpc-server: references missing Secret/grpc-server",
    ),
    (
        "missing trigger secret",
        checks.check_references,
        drop("KafkaUser", "keda"),
        "TriggerAuthentication/kafka-keda: references missing Secret/keda",
    ),
    (
        "missing trigger authentication",
        checks.check_references,
        drop("TriggerAuthentication", "kafka-keda"),
        "ScaledObject/consumer: references missing TriggerAuthentication/kafka-keda",
    ),
    (
        "namespace",
        checks.check_namespaces,
        set_in(svc("front"), "metadata.namespace", "default"),
        "Service/front",
    ),
    ("duplicate", checks.check_unique, lambda o: o.append(find(o, "Service", "front")), "more than once"),
    (
        "replicas under autoscaler",
        checks.check_autoscaling,
        set_in(deployment_spec("consumer"), "replicas", 2),
        "Deployment/consumer",
    ),
    ("pdb", checks.check_pdbs, drop("PodDisruptionBudget", "front"), "Deployment/front"),
    (
        "default deny",
        checks.check_network_policies,
        drop("NetworkPolicy", "default-deny"),
        "default-deny",
    ),
    (
        "workload policy",
        checks.check_network_policies,
        drop("NetworkPolicy", "results"),
        "Deployment/results",
    ),
    (
        "partitions",
        checks.check_kafka,
        set_in(lambda o: find(o, "KafkaTopic", "votes-submitted"), "spec.partitions", 3),
        "partitions",
    ),
    (
        "retention",
        checks.check_kafka,
        set_in(lambda o: find(o, "KafkaTopic", "votes-submitted"), "spec.config", {}),
        "retention",
    ),
    (
        "dead letter",
        checks.check_kafka,
        drop("KafkaTopic", "votes-dead-letter"),
        "votes-dead-letter",
    ),
    (
        "clusterIP",
        checks.check_grpc_balancing,
        set_in(svc("grpc-server-headless"), "spec.clusterIP", None),
        "not headless",
    ),
    (
        "grpc target",
        checks.check_grpc_balancing,
        set_in(lambda o: find(o, "ConfigMap", "votemon-config"), "data.GRPC_TARGET", "grpc-server:50051"),
        "is not dns:///",
    ),
]


@pytest.mark.parametrize(("name", "check", "mutate", "needle"), CASES, ids=[c[0] for c in CASES])
def test_env_check_fails(
    name: str, check: Callable[[list[tree.Obj]], list[str]], mutate: Mutation, needle: str
) -> None:
    objs = env_copy("gke")
    assert check(objs) == [], name
    mutate(objs)
    errors = check(objs)
    assert any(needle in e for e in errors), errors


def app(objs: list[tree.Obj], name: str = "pipeline") -> tree.Obj:
    return find(objs, "Application", name)


ARGO_CASES: list[tuple[str, Mutation, str]] = [
    (
        "path missing",
        set_in(lambda o: app(o)["spec"]["source"], "path", "overlays/nowhere"),
        "no kustomization.yaml",
    ),
    (
        "chart unpinned",
        set_in(lambda o: app(o, "strimzi-operator")["spec"]["source"], "targetRevision", "*"),
        "not pinned",
    ),
    ("no prune", set_in(lambda o: app(o)["spec"]["syncPolicy"], "automated", {"selfHeal": True}), "prune"),
    ("no wave", set_in(lambda o: app(o)["metadata"], "annotations", {}), "sync-wave"),
    ("no namespace", set_in(lambda o: app(o)["spec"]["syncPolicy"], "syncOptions", []), "CreateNamespace"),
    (
        "strimzi ssa",
        set_in(
            lambda o: app(o, "strimzi-operator")["spec"]["syncPolicy"],
            "syncOptions",
            ["CreateNamespace=true"],
        ),
        "ServerSideApply",
    ),
    (
        "forbidden namespace",
        set_in(lambda o: app(o)["spec"]["destination"], "namespace", "default"),
        "forbids namespace default",
    ),
    (
        "wide project",
        lambda o: find(o, "AppProject", "so1-p2")["spec"]["destinations"].append({"namespace": "*"}),
        "other than",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "needle"), ARGO_CASES, ids=[c[0] for c in ARGO_CASES])
def test_argo_check_fails(name: str, mutate: Mutation, needle: str) -> None:
    objs = argo_copy("gke")
    mutate(objs)
    errors = checks.check_argo_apps(objs)
    assert any(needle in e for e in errors), (name, errors)


def test_argo_path_that_does_not_render_fails(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    objs = argo_copy("gke")
    apps = [
        dict(o, spec=dict(o["spec"], source=dict(o["spec"]["source"], path="broken")))
        for o in objs
        if o["kind"] == "Application"
    ]
    errors = checks.check_argo_apps(apps[:1] + [o for o in objs if o["kind"] == "AppProject"], root=tmp_path)
    assert any("does not render" in e for e in errors), errors


SCHEMA_CASES = [
    (
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "x"},
            "spec": {"selector": {}, "template": {}, "replica": 1},
        },
        "replica",
    ),
    (
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "x"},
            "spec": {"ports": [{"port": "http"}]},
        },
        "ports",
    ),
    (
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaTopic",
            "metadata": {"name": "x"},
            "spec": {"partitons": 6},
        },
        "partitons",
    ),
    (
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaTopic",
            "metadata": {"name": "x"},
            "spec": {},
        },
        "no schema",
    ),
    (
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "Kafka",
            "metadata": {"name": "x"},
            "spec": {"zookeeper": {}},
        },
        "zookeeper",
    ),
    (
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x"}, "spek": {}},
        "spek",
    ),
    (
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"}},
        "no schema",
    ),
    ({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "x"}}, "no schema"),
    ({"apiVersion": "apps.example.com/v1", "kind": "Deployment", "metadata": {"name": "x"}}, "no schema"),
]


@pytest.mark.parametrize(
    ("obj", "needle"), SCHEMA_CASES, ids=[f"{o['apiVersion']}-{n}" for o, n in SCHEMA_CASES]
)
def test_schema_check_fails(obj: tree.Obj, needle: str) -> None:
    errors = schemas.schema_errors(obj)
    assert any(needle in e for e in errors), errors


def test_crds_dir_setting_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRDS_DIR", str(tmp_path))
    assert schemas.crds_dir() == tmp_path
    kafka = find(env_copy("gke"), "Kafka", "votes")
    assert "no schema" in schemas.schema_errors(kafka, schemas.crd_schemas(tmp_path))[0]
    with pytest.raises(FileNotFoundError):
        schemas.crd_schemas(tmp_path / "absent")


def env_of(name: str) -> Callable[[list[tree.Obj]], list[tree.Obj]]:
    return lambda objs: container(objs, "Deployment", name).setdefault("env", [])


def add_secret_env(name: str, secret: str) -> Mutation:
    def mutate(objs: list[tree.Obj]) -> None:
        ref = {"secretKeyRef": {"name": secret, "key": "password"}}
        env_of(name)(objs).append({"name": "X_PASSWORD", "valueFrom": ref})

    return mutate


def without_env(kind: str, name: str, variable: str) -> Mutation:
    def mutate(objs: list[tree.Obj]) -> None:
        box = container(objs, kind, name)
        box["env"] = [e for e in box["env"] if e["name"] != variable]

    return mutate


def redis_password_in_args(objs: list[tree.Obj]) -> None:
    redis = container(objs, "StatefulSet", "redis")
    redis["env"].append(
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "password"}}}
    )
    redis["command"], redis["args"] = ["redis-server"], ["--requirepass", "$(REDIS_PASSWORD)"]


def dns_to_kube_dns_only(objs: list[tree.Obj]) -> None:
    rule = find(objs, "NetworkPolicy", "allow-dns")["spec"]["egress"][0]
    rule["to"] = [peer for peer in rule["to"] if "ipBlock" not in peer]


def plain_config_map(objs: list[tree.Obj]) -> None:
    find(objs, "ConfigMap", "votemon-config")["metadata"]["name"] = "votemon-config"
    pod(objs)["containers"][0]["envFrom"][0]["configMapRef"]["name"] = "votemon-config"


def pod_monitoring(objs: list[tree.Obj]) -> None:
    objs.append(
        {
            "apiVersion": "monitoring.googleapis.com/v1",
            "kind": "PodMonitoring",
            "metadata": {"name": "grpc-server", "namespace": "so1-p2"},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": "grpc-server"}},
                "endpoints": [{"port": "metrics", "interval": "30s"}],
            },
        }
    )


def open_to_gmp(objs: list[tree.Obj]) -> None:
    find(objs, "NetworkPolicy", "grpc-server")["spec"]["ingress"].append(
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gmp-system"}}}],
            "ports": [{"port": 9101}],
        }
    )


def config_map(objs: list[tree.Obj]) -> tree.Obj:
    return find(objs, "ConfigMap", "votemon-config")


def kafka_spec(objs: list[tree.Obj]) -> tree.Obj:
    spec: tree.Obj = find(objs, "Kafka", "votes")["spec"]
    return spec


def kafka_listener(objs: list[tree.Obj]) -> tree.Obj:
    listener: tree.Obj = kafka_spec(objs)["kafka"]["listeners"][0]
    return listener


def kafka_user(name: str) -> Callable[[list[tree.Obj]], tree.Obj]:
    return lambda objs: find(objs, "KafkaUser", name)["spec"]


def acl(user: str, index: int) -> Callable[[list[tree.Obj]], tree.Obj]:
    return lambda objs: kafka_user(user)(objs)["authorization"]["acls"][index]


def volume(deployment: str, name: str) -> Callable[[list[tree.Obj]], tree.Obj]:
    def get(objs: list[tree.Obj]) -> tree.Obj:
        pod = find(objs, "Deployment", deployment)["spec"]["template"]["spec"]
        found: tree.Obj = next(v for v in pod["volumes"] if v["name"] == name)
        return found

    return get


def kafka_trigger(objs: list[tree.Obj]) -> tree.Obj:
    trigger: tree.Obj = find(objs, "ScaledObject", "consumer")["spec"]["triggers"][0]
    return trigger


def trigger_secret(parameter: str) -> Callable[[list[tree.Obj]], tree.Obj]:
    def get(objs: list[tree.Obj]) -> tree.Obj:
        refs = find(objs, "TriggerAuthentication", "kafka-keda")["spec"]["secretTargetRef"]
        found: tree.Obj = next(r for r in refs if r["parameter"] == parameter)
        return found

    return get


def spare_kafka_user(objs: list[tree.Obj]) -> None:
    spare = copy.deepcopy(find(objs, "KafkaUser", "keda"))
    spare["metadata"]["name"] = "spare"
    objs.append(spare)


def without_dead_letters(objs: list[tree.Obj]) -> None:
    acls = kafka_user("consumer")(objs)["authorization"]["acls"]
    acls[:] = [a for a in acls if a["resource"]["name"] != "votes-dead-letter"]


RUNTIME_CASES: list[tuple[str, Callable[[list[tree.Obj]], list[str]], Mutation, str]] = [
    (
        "keep-alive",
        checks.check_front_drain,
        set_in(lambda o: find(o, "ConfigMap", "votemon-config"), "data.KEEP_ALIVE_TIMEOUT_SECONDS", "75"),
        "keep-alive 75",
    ),
    ("preStop", checks.check_front_drain, set_in(front, "lifecycle", None), "no preStop"),
    (
        "grace period",
        checks.check_front_drain,
        set_in(pod, "terminationGracePeriodSeconds", 29),
        "terminationGracePeriodSeconds 29",
    ),
    ("dns cloud dns", checks.check_dns_egress, dns_to_kube_dns_only, "169.254.169.254 (Cloud DNS) on UDP"),
    (
        "dns nodelocal",
        checks.check_dns_egress,
        dns_to_kube_dns_only,
        "169.254.20.10 (NodeLocal DNSCache) on TCP",
    ),
    (
        "dns kube-dns",
        checks.check_dns_egress,
        set_in(lambda o: find(o, "NetworkPolicy", "allow-dns"), "spec.egress", []),
        "kube-dns pods",
    ),
    (
        "refresh",
        checks.check_secret_rotation,
        set_in(lambda o: find(o, "ExternalSecret", "mongodb-auth"), "spec.refreshPolicy", "Periodic"),
        "ExternalSecret/mongodb-auth: refreshPolicy Periodic",
    ),
    (
        "password argv",
        checks.check_secret_rotation,
        redis_password_in_args,
        "secret REDIS_PASSWORD on the command line",
    ),
    ("grafana log", checks.check_grafana, without_env("Deployment", "grafana", "GF_LOG_MODE"), "GF_LOG_MODE"),
    (
        "grafana apps",
        checks.check_grafana,
        without_env("Deployment", "grafana", "GF_PLUGINS_DISABLE_PLUGINS"),
        "grafana-lokiexplore-app",
    ),
    (
        "grafana preinstall",
        checks.check_grafana,
        lambda o: env_of("grafana")(o).append({"name": "GF_PLUGINS_PREINSTALL_DISABLED", "value": "true"}),
        "drops GF_PLUGINS_PREINSTALL_SYNC",
    ),
    (
        "config rollout",
        checks.check_config_rollout,
        plain_config_map,
        "Deployment/front: ConfigMap/votemon-config is not generated",
    ),
    (
        "credentials front",
        checks.check_credentials,
        add_secret_env("front", "redis-auth"),
        "Deployment/front: gets Secret/redis-auth",
    ),
    (
        "credentials grpc",
        checks.check_credentials,
        add_secret_env("grpc-server", "mongodb-auth"),
        "Deployment/grpc-server: gets Secret/mongodb-auth",
    ),
    (
        "credentials results mongodb",
        checks.check_credentials,
        add_secret_env("results", "mongodb-auth"),
        "Deployment/results: gets Secret/mongodb-auth",
    ),
    (
        "credentials results consumer's redis user",
        checks.check_credentials,
        add_secret_env("results", "redis-consumer"),
        "Deployment/results: gets Secret/redis-consumer",
    ),
    (
        "credentials in the environment",
        checks.check_credentials,
        add_secret_env("consumer", "redis-consumer"),
        "Deployment/consumer/votemon: Secret/redis-consumer in environment variable X_PASSWORD",
    ),
    (
        "credentials another's kafka user",
        checks.check_credentials,
        add_secret_env("grpc-server", "consumer"),
        "Deployment/grpc-server: gets Secret/consumer, which it does not use",
    ),
    (
        "credentials kafka password in the environment",
        checks.check_credentials,
        add_secret_env("consumer", "consumer"),
        "Deployment/consumer/votemon: Secret/consumer in environment variable X_PASSWORD",
    ),
    (
        "spread",
        checks.check_spread,
        set_in(
            lambda o: find(o, "Deployment", "results")["spec"]["template"]["spec"],
            "topologySpreadConstraints",
            None,
        ),
        "Deployment/results: no topologySpreadConstraint on topology.kubernetes.io/zone",
    ),
    (
        "rack",
        checks.check_spread,
        set_in(lambda o: find(o, "Kafka", "votes")["spec"]["kafka"], "rack", None),
        "Kafka/votes: no rack",
    ),
    (
        "gmp",
        checks.check_gmp,
        pod_monitoring,
        "PodMonitoring/grpc-server scrapes port metrics, closed to gmp-system",
    ),
]


@pytest.mark.parametrize(
    ("name", "check", "mutate", "needle"), RUNTIME_CASES, ids=[c[0] for c in RUNTIME_CASES]
)
def test_runtime_check_fails(
    name: str, check: Callable[[list[tree.Obj]], list[str]], mutate: Mutation, needle: str
) -> None:
    test_env_check_fails(name, check, mutate, needle)


# Kafka's authentication and authorization (check_kafka_auth): (name, mutation, expected error).
KAFKA_AUTH_CASES: list[tuple[str, Mutation, str]] = [
    ("plain listener", set_in(kafka_listener, "tls", False), "Kafka/votes: listener tls without TLS"),
    (
        "no scram",
        set_in(kafka_listener, "authentication", None),
        "Kafka/votes: listener tls does not authenticate with scram-sha-512",
    ),
    ("no acls", set_in(kafka_spec, "kafka.authorization", None), "Kafka/votes: authorization is not simple"),
    (
        "no user operator",
        set_in(kafka_spec, "entityOperator.userOperator", None),
        "Kafka/votes: no entityOperator.userOperator",
    ),
    (
        "user tls",
        set_in(kafka_user("consumer"), "authentication.type", "tls"),
        "KafkaUser/consumer: authentication is not scram-sha-512",
    ),
    (
        "user authorization",
        set_in(kafka_user("grpc-server"), "authorization.type", "custom"),
        "KafkaUser/grpc-server: authorization is not simple",
    ),
    (
        "user cluster",
        set_in(lambda o: find(o, "KafkaUser", "keda"), "metadata.labels", {}),
        "KafkaUser/keda: label strimzi.io/cluster names no rendered Kafka",
    ),
    (
        "producer acl",
        set_in(acl("grpc-server", 0), "operations", ["Describe"]),
        "KafkaUser/grpc-server: no Write on topic votes-submitted (VOTES_TOPIC)",
    ),
    (
        "dead letter acl",
        without_dead_letters,
        "KafkaUser/consumer: no Write on topic votes-dead-letter (DEAD_LETTER_TOPIC)",
    ),
    (
        "group acl",
        set_in(acl("consumer", 1), "operations", ["Describe"]),
        "KafkaUser/consumer: no Read on group vote-counter (CONSUMER_GROUP)",
    ),
    (
        "another's secret",
        set_in(volume("grpc-server", "kafka-user"), "secret.secretName", "consumer"),
        "Deployment/grpc-server: does not mount Secret/grpc-server (key password, as grpc-server) at "
        "KAFKA_USERS_DIR '/etc/votemon/kafka-users'",
    ),
    (
        "users dir",
        set_in(config_map, "data.KAFKA_USERS_DIR", "/etc/votemon/kafka"),
        "Deployment/consumer: does not mount Secret/consumer (key password, as consumer) at "
        "KAFKA_USERS_DIR '/etc/votemon/kafka'",
    ),
    (
        "ca",
        set_in(volume("consumer", "kafka-ca"), "secret.items", [{"key": "ca.p12", "path": "ca.crt"}]),
        "Deployment/consumer: does not mount Secret/votes-cluster-ca-cert (key ca.crt) as KAFKA_CA_FILE",
    ),
    ("spare user", spare_kafka_user, "KafkaUser/spare: no client logs in as it"),
    (
        "keda sasl",
        set_in(kafka_trigger, "metadata.sasl", None),
        "ScaledObject/consumer: kafka trigger: sasl is not scram_sha512",
    ),
    (
        "keda tls",
        set_in(kafka_trigger, "metadata.tls", "disable"),
        "ScaledObject/consumer: kafka trigger: tls is not enable",
    ),
    (
        "keda no authentication",
        set_in(kafka_trigger, "authenticationRef", None),
        "ScaledObject/consumer: kafka trigger: no TriggerAuthentication",
    ),
    (
        "keda unknown user",
        set_in(lambda o: find(o, "ConfigMap", "kafka-keda"), "data.username", "admin"),
        "TriggerAuthentication/kafka-keda: username 'admin' is not a KafkaUser's",
    ),
    (
        "keda another's user",
        set_in(lambda o: find(o, "ConfigMap", "kafka-keda"), "data.username", "consumer"),
        "TriggerAuthentication/kafka-keda: password is not key password of Secret/consumer",
    ),
    (
        "keda ca",
        set_in(trigger_secret("ca"), "key", "ca.p12"),
        "TriggerAuthentication/kafka-keda: ca is not key ca.crt of Secret/votes-cluster-ca-cert",
    ),
    (
        "keda acl",
        set_in(acl("keda", 1), "resource.name", "vote-count"),
        "KafkaUser/keda: no Describe on group vote-counter (the trigger's consumerGroup)",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "needle"), KAFKA_AUTH_CASES, ids=[c[0] for c in KAFKA_AUTH_CASES])
def test_kafka_auth_check_fails(name: str, mutate: Mutation, needle: str) -> None:
    test_env_check_fails(name, checks.check_kafka_auth, mutate, needle)


def test_gmp_check_passes_once_the_port_is_open_to_gmp_system() -> None:
    objs = env_copy("gke")
    pod_monitoring(objs)
    open_to_gmp(objs)
    assert checks.check_gmp(objs) == []


def test_runtime_rules_fail_on_the_tree_before_issue_12(tmp_path: Path) -> None:
    """The tree at c1f6d2c (before these fixes) breaks every runtime rule except GMP (no
    PodMonitoring there), and, having no edge, the edge checks (HSTS aside: nothing was served over
    HTTPS). The tree is a fixture (`git archive --format=tar.gz c1f6d2c base overlays apps`), so the
    test needs no git history: CI's checkout is a depth-1 clone."""
    with tarfile.open(HERE / "fixture" / "tree-c1f6d2c.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    objs = tree.env_objects("gke", root=tmp_path)
    failing = {label for label, check in checks.env_checks("gke").items() if check(objs)}
    runtime = (set(checks.RUNTIME_CHECKS) | set(checks.GKE_RUNTIME_CHECKS)) - {"gmp"}
    assert failing == runtime | (set(checks.EDGE_CHECKS) - {"hsts"})

"""Each environment as Argo CD syncs it (the union of its Applications' paths) passes the policy
checks, and the Argo CD tree itself is sound."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.gitops.gitops_support import REPO, argo_copy, by_key, container, find
from votemon.gitops import checks, root_app, tree, trust_root
from votemon.gitops.checks import schemas

ENV_CHECKS = [(env, name, check) for env in tree.ENVS for name, check in checks.env_checks(env).items()]


@pytest.mark.parametrize(("env", "name", "check"), ENV_CHECKS, ids=[f"{e}-{n}" for e, n, _ in ENV_CHECKS])
def test_environment_passes(env: str, name: str, check: Callable[[list[Any]], list[str]]) -> None:
    assert check(tree.env_objects(env)) == [], name


@pytest.mark.parametrize("env", tree.ENVS)
def test_argo_children_point_at_rendering_paths(env: str) -> None:
    assert checks.check_argo_apps(argo_copy(env)) == []


@pytest.mark.parametrize("env", tree.ENVS)
def test_root_app_of_apps(env: str) -> None:
    root = root_app.root_app(env, repo=None, without_operators=False)
    assert schemas.schema_errors(root) == []
    assert (root["metadata"]["name"], root["spec"]["source"]["path"]) == (f"so1-p2-{env}", f"apps/{env}")
    assert "kustomize" not in root["spec"]["source"], "the repository in git: nothing to patch"
    projects = {o["metadata"]["name"] for o in trust_root.projects()}
    assert root["spec"]["project"] in projects
    assert root["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_environments_differ_only_in_their_paths_and_their_own_charts() -> None:
    """apps/base holds what both environments sync: the same Applications, each pointed at its
    environment's overlay; only the charts an environment alone needs (dev: metrics-server, gke:
    KEDA) are its own."""
    apps = {
        env: {
            (o["kind"], o["metadata"]["name"]): json.dumps(o, sort_keys=True).replace(f"/{env}", "/<env>")
            for o in tree.render(REPO / "apps" / env)
        }
        for env in tree.ENVS
    }
    dev, gke = apps["dev"], apps["gke"]
    assert dev.keys() - gke.keys() == {("Application", "metrics-server")}
    assert gke.keys() - dev.keys() == {("Application", "keda")}
    assert [key for key in dev.keys() & gke.keys() if dev[key] != gke[key]] == []
    paths = {str(path.relative_to(REPO)) for path in tree.app_paths("gke")}
    assert paths == {"overlays/gke", "overlays/gke/data", "overlays/observability"}


@pytest.mark.parametrize("env", tree.ENVS)
def test_sync_waves_operator_then_data_then_pipeline_then_grafana(env: str) -> None:
    apps = by_key(tree.render(REPO / "apps" / env))
    wave = {
        name: int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for (kind, name), app in apps.items()
        if kind == "Application"
    }
    assert wave["strimzi-operator"] < wave["data"] < wave["pipeline"] < wave["observability"]
    kinds = {o["kind"] for o in tree.render(REPO / apps[("Application", "data")]["spec"]["source"]["path"])}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "StatefulSet"} <= kinds
    grafana = tree.render(REPO / apps[("Application", "observability")]["spec"]["source"]["path"])
    assert ("Deployment", "grafana") in by_key(grafana)


@pytest.mark.parametrize("env", tree.ENVS)
def test_autoscaler_owns_consumer_replicas_and_argo_ignores_them(env: str) -> None:
    objs = tree.env_objects(env)
    assert "replicas" not in find(objs, "Deployment", "consumer")["spec"]
    apps = by_key(tree.render(REPO / "apps" / env))
    pipeline = apps[("Application", "pipeline")]["spec"]
    assert {
        "group": "apps",
        "kind": "Deployment",
        "name": "consumer",
        "jsonPointers": ["/spec/replicas"],
    } in pipeline["ignoreDifferences"]
    assert "RespectIgnoreDifferences=true" in pipeline["syncPolicy"]["syncOptions"]
    if env == "dev":
        hpa = find(objs, "HorizontalPodAutoscaler", "consumer")
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    else:
        scaled = find(objs, "ScaledObject", "consumer")["spec"]
        assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (2, 5)
        trigger = scaled["triggers"][0]
        assert trigger["type"] == "kafka"
        # KEDA reads the consumer's own group and topic from its environment (votemon-config).
        config = find(objs, "ConfigMap", "votemon-config")["data"]
        assert config[trigger["metadata"]["consumerGroupFromEnv"]] == "vote-counter"
        assert config[trigger["metadata"]["topicFromEnv"]] == "votes-submitted"
        assert config[trigger["metadata"]["bootstrapServersFromEnv"]].startswith("votes-kafka-bootstrap.")


def test_strimzi_operator_is_a_pinned_chart_with_server_side_apply() -> None:
    for env in tree.ENVS:
        app = by_key(tree.render(REPO / "apps" / env))[("Application", "strimzi-operator")]["spec"]
        assert app["source"]["chart"] == "strimzi-kafka-operator"
        assert "ServerSideApply=true" in app["syncPolicy"]["syncOptions"]
        assert app["destination"]["namespace"] == tree.NAMESPACE


def test_kafka_is_strimzi_v1_kraft_4_3() -> None:
    for env in tree.ENVS:
        objs = tree.env_objects(env)
        kafka = find(objs, "Kafka", "votes")
        assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
        assert kafka["spec"]["kafka"]["version"].startswith("4.3.")
        assert "zookeeper" not in kafka["spec"]
        pool = find(objs, "KafkaNodePool", "dual")
        assert set(pool["spec"]["roles"]) == {"controller", "broker"}
        assert all(
            o["apiVersion"] == "kafka.strimzi.io/v1" for o in objs if o["apiVersion"].startswith("kafka.")
        )


def test_public_path_grpc_reaches_the_front() -> None:
    ingress = find(tree.env_objects("dev"), "Ingress", "front")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    path = ingress["rules"][0]["http"]["paths"][0]
    assert (path["path"], path["backend"]["service"]["name"]) == ("/grpc", "front")
    route = find(tree.env_objects("gke"), "HTTPRoute", "front")["spec"]["rules"][0]
    assert route["matches"][0]["path"]["value"] == "/grpc"
    assert route["backendRefs"][0]["name"] == "front"


def test_images_are_pinned_per_environment() -> None:
    gke = container(tree.env_objects("gke"), "Deployment", "front")["image"]
    dev = container(tree.env_objects("dev"), "Deployment", "front")["image"]
    assert gke.startswith("ghcr.io/so1-p2/votemon:") or "@sha256:" in gke
    assert dev != gke
    assert dev.startswith("ghcr.io/so1-p2/votemon:dev")


def test_namespace_enforces_restricted_pod_security() -> None:
    for env in tree.ENVS:
        labels = find(tree.env_objects(env), "Namespace", tree.NAMESPACE)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_redis_and_mongodb_require_authentication() -> None:
    for env in tree.ENVS:
        objs = tree.env_objects(env)
        redis = container(objs, "StatefulSet", "redis")
        # requirepass comes from the mounted Secret into a config file, never onto the command line
        (script,) = redis["args"]
        assert "requirepass %s" in script and "/etc/redis-auth/password" in script
        assert "--appendonly yes" in script
        mongo_env = {e["name"]: e for e in container(objs, "StatefulSet", "mongodb")["env"]}
        assert mongo_env["MONGO_INITDB_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "mongodb-auth"
        config = find(objs, "ConfigMap", "votemon-config")["data"]
        assert "@" not in config["REDIS_URL"] and "@" not in config["MONGO_URI"]


def test_each_datastore_client_logs_in_as_its_own_user() -> None:
    """Redis gets every user of base/redis/users.acl, each password from its own Secret; the consumer
    reads MongoDB's credentials from files, in gke those of its readWrite user on `votes`, which
    MongoDB creates when it initialises (mongodb-consumer-user.js); dev's FerretDB has no roles."""
    acl = (REPO / "base" / "redis" / "users.acl").read_text().splitlines()
    users = [line.split()[1] for line in acl if line.startswith("user ")]
    assert users == ["consumer", "results", "grafana"]
    for env in tree.ENVS:
        objs = tree.env_objects(env)
        (script,) = container(objs, "StatefulSet", "redis")["args"]
        assert "render-users.sh /etc/redis-users/users.acl /etc/redis-user-passwords" in script
        volumes = find(objs, "StatefulSet", "redis")["spec"]["template"]["spec"]["volumes"]
        (projected,) = [v["projected"]["sources"] for v in volumes if v["name"] == "redis-user-passwords"]
        files = {
            item["path"]: source["secret"]["name"]
            for source in projected
            for item in source["secret"]["items"]
        }
        assert files == {user: f"redis-{user}" for user in users}
        consumer = find(objs, "Deployment", "consumer")["spec"]["template"]["spec"]
        (mongo,) = [v["secret"] for v in consumer["volumes"] if v["name"] == "mongodb-credentials"]
        assert mongo["secretName"] == {"dev": "mongodb-auth", "gke": "mongodb-consumer"}[env], env
        assert {item["path"] for item in mongo["items"]} == {"username", "password"}
    gke = tree.env_objects("gke")
    initdb = find(gke, "ConfigMap", "mongodb-initdb")["data"]["mongodb-consumer-user.js"]
    assert 'roles: [{ role: "readWrite", db: "votes" }]' in initdb
    assert "MONGO_DATABASE" not in find(gke, "ConfigMap", "votemon-config")["data"], "the database is votes"
    mounts = container(gke, "StatefulSet", "mongodb")["volumeMounts"]
    assert {"mountPath": "/docker-entrypoint-initdb.d", "name": "initdb", "readOnly": True} in mounts


def test_no_automatic_sync_of_the_pipeline_during_the_scheduled_load_test() -> None:
    """A real GKE cluster's project denies automatic syncs of data and pipeline over the loadtest workflow's
    cron time and an hour after it (GitHub starts scheduled runs late); manual syncs still pass; the
    projects the local cluster gets have no window."""
    workflow = yaml.safe_load((REPO / ".github/workflows/loadtest.yml").read_text())
    minute, hour, *every_day = workflow[True]["schedule"][0]["cron"].split()
    assert every_day == ["*", "*", "*"]
    assert all("syncWindows" not in p["spec"] for p in trust_root.projects())
    (window,) = find(trust_root.projects(sync_windows=True), "AppProject", "so1-p2")["spec"]["syncWindows"]
    assert (window["kind"], window["manualSync"], window["timeZone"]) == ("deny", True, "UTC")
    assert set(window["applications"]) == {"data", "pipeline"}
    start_minute, start_hour, *window_days = window["schedule"].split()
    assert window_days == ["*", "*", "*"]
    start = int(start_hour) * 60 + int(start_minute)
    end = start + int(window["duration"].removesuffix("m"))
    run_starts = int(hour) * 60 + int(minute)
    assert start <= run_starts and run_starts + 60 <= end, "the run, an hour late or long, stays inside"

"""The Cloud Run service files (cloudrun/*.yaml): strict Knative schema, secrets only by reference,
and settings the results app actually reads."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml
from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import default_settings

from votemon.dev.processes import ROOT
from votemon.gitops.checks import schemas
from votemon.settings import Settings

FILES = sorted([*ROOT.glob("cloudrun/*.yaml"), *ROOT.glob("cloudrun/*.yml")])
KEY = ("serving.knative.dev/v1", "Service")
IMAGE = re.compile(r"^ghcr\.io/so1-p2/votemon(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE", re.IGNORECASE)
# Cloud Run sends SIGTERM and kills the instance 10 s later.
CLOUD_RUN_GRACE_SECONDS = 10


def services() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in FILES:
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((path.name, document))
    return found


per_service = pytest.mark.parametrize(
    ("name", "service"), services(), ids=lambda v: v if isinstance(v, str) else ""
)


@pytest.fixture(scope="module")
def validator() -> Any:
    schema_file = schemas.crds_dir() / "knative-serving-service.yaml"
    if not schema_file.is_file():
        pytest.fail(f"{schema_file} is missing (set CRDS_DIR)")
    return schemas.crd_schemas(schemas.crds_dir())[KEY]


def container(service: dict[str, Any]) -> dict[str, Any]:
    (only,) = service["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def settings_of(service: dict[str, Any]) -> Settings:
    """The settings the app reads from the service's plain (not secret) environment."""
    env = container(service)["env"]
    return Settings(**{item["name"].lower(): item["value"] for item in env if "value" in item})


def test_there_is_a_results_service() -> None:
    assert FILES, "no cloudrun/*.yaml"
    assert any(container(service)["args"] == ["results"] for _, service in services())


@per_service
def test_service_matches_the_knative_schema_strictly(
    name: str, service: dict[str, Any], validator: Any
) -> None:
    assert (service["apiVersion"], service["kind"]) == KEY
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(service)]
    assert errors == [], f"{name}: {errors}"


def test_the_schema_check_is_strict(validator: Any) -> None:
    _, service = services()[0]
    typo = copy.deepcopy(service)
    container(typo)["env"][0]["valueFrm"] = {}
    assert any("valueFrm" in e.message for e in validator.iter_errors(typo))
    top = copy.deepcopy(service)
    top["spce"] = {}
    assert list(validator.iter_errors(top))


@per_service
def test_service_runs_the_results_app(name: str, service: dict[str, Any]) -> None:
    template = service["spec"]["template"]
    app = container(service)
    assert IMAGE.match(app["image"]) and re.search(r":[\w.-]+$|@sha256:", app["image"]), "tag or digest"
    assert app["args"] == ["results"]
    (port,) = app["ports"]
    env = {item["name"]: item for item in app["env"]}
    host, _, bind_port = env["RESULTS_BIND"]["value"].rpartition(":")
    assert host == "0.0.0.0" and int(bind_port) == port["containerPort"], "the app must listen on $PORT"
    for probe in ("startupProbe", "livenessProbe"):
        assert app[probe]["httpGet"] == {"path": "/healthz", "port": port["containerPort"]}

    annotations = template["metadata"]["annotations"]
    low, high = (int(annotations[f"autoscaling.knative.dev/{b}"]) for b in ("minScale", "maxScale"))
    assert 1 <= low <= high <= 20
    interfaces = json.loads(annotations["run.googleapis.com/network-interfaces"])
    assert interfaces and all(i.get("network") and i.get("subnetwork") for i in interfaces)
    assert annotations["run.googleapis.com/vpc-access-egress"] in {"private-ranges-only", "all-traffic"}
    assert service["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]


@per_service
def test_environment_is_settings_the_app_reads(name: str, service: dict[str, Any]) -> None:
    env = container(service)["env"]
    names = [item["name"] for item in env]
    assert len(names) == len(set(names)), "duplicate variables"
    unknown = {n for n in names if n.lower() not in Settings.model_fields}
    assert not unknown, f"{name}: not settings of votemon (typo?): {unknown}"
    settings = settings_of(service)
    assert settings.shutdown_grace_seconds < CLOUD_RUN_GRACE_SECONDS
    assert "@" not in settings.redis_url, "credentials belong in Secret Manager, not in a URL"
    assert not re.search(r"//(127\.|localhost)", settings.redis_url), (
        "loopback is the local stack, not Cloud Run's"
    )
    mongo = [n for n in names if n.startswith("MONGO_")]
    assert not mongo, f"{name}: the results service never opens MongoDB, so it gets none of {mongo}"


@per_service
def test_a_stream_ends_itself_before_the_request_timeout_cuts_it(name: str, service: dict[str, Any]) -> None:
    """The browser reconnects when the server ends a stream, at once and with Last-Event-ID; a cut
    at Cloud Run's request timeout would be an error on the page instead."""
    spec = service["spec"]["template"]["spec"]
    settings = settings_of(service)
    assert settings.stream_max_seconds + 2 * settings.stream_tick_seconds < spec["timeoutSeconds"]
    assert spec["containerConcurrency"] >= 1000, "each viewer holds a request open"


@per_service
def test_credentials_are_files_of_a_secret_volume(name: str, service: dict[str, Any]) -> None:
    env = {item["name"]: item for item in container(service)["env"]}
    secret_env = [
        variable for variable, item in env.items() if SECRET_NAME.search(variable) or "valueFrom" in item
    ]
    assert not secret_env, f"{name}: credentials in the environment: {secret_env}"
    settings = settings_of(service)
    volumes = {
        v["name"]: v["secret"] for v in service["spec"]["template"]["spec"]["volumes"] if "secret" in v
    }
    mounts = {m["mountPath"]: m["name"] for m in container(service)["volumeMounts"]}
    secret = volumes[mounts[str(settings.redis_users_dir)]]
    assert secret["items"] == [{"key": "latest", "path": "results"}], "its own Redis user's password, only"
    text = (ROOT / "cloudrun" / name).read_text()
    assert not re.search(r"(?i)(password|secret|token)[ \t]*[:=][ \t]*['\"]?[^\s'\"{$]{6,}", text)


def test_detect_secrets_finds_nothing() -> None:
    found = SecretsCollection()
    with default_settings():
        for path in FILES:
            found.scan_file(str(path))
    assert not found.json(), found.json()


def test_cloudrun_is_outside_argo_cd_paths() -> None:
    argo = [path for path in (ROOT / "apps").rglob("*.yaml") if "cloudrun" in path.read_text()]
    assert argo == [], "GKE runs no Knative: Argo CD must not sync cloudrun/"


def test_one_votemon_image_for_the_bump_script() -> None:
    from votemon.gitops import bump_image as bump  # noqa: PLC0415

    for path in FILES:
        refs = [
            c["image"]
            for doc in yaml.safe_load_all(path.read_text())
            for c in bump.containers_of(doc, "votemon")
        ]
        assert len(refs) == 1 and IMAGE.match(refs[0]), f"{path.name}: one votemon container image to bump"

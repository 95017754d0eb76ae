"""Each deploy fact is written once: the service list lives in the registry (votemon.settings) and
every copy that a machine reads is checked against it; the repository URL is written once; the
cluster's settings restate no code default except what KEDA reads from the consumer's environment."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.gitops.gitops_support import REPO, find
from votemon.gitops import tree
from votemon.settings import Settings

WORKFLOWS = REPO / ".github" / "workflows"


def choice_inputs() -> list[tuple[str, list[str]]]:
    """(workflow:input, options) of every workflow_dispatch choice that names a service."""
    found = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        on: dict[str, Any] = yaml.safe_load(path.read_text())[True]
        inputs = (on.get("workflow_dispatch") or {}).get("inputs", {})
        for name, spec in inputs.items():
            options = [str(o) for o in spec.get("options", [])]
            if set(options) & set(tree.SERVICES):
                found.append((f"{path.name}:{name}", options))
    return found


def test_workflow_service_choices_are_the_registry() -> None:
    choices = choice_inputs()
    assert choices, "the replicas workflow offers the services"
    for where, options in choices:
        assert sorted(options) == sorted(tree.SERVICES), where


@pytest.mark.parametrize("env", tree.ENVS)
def test_every_registered_service_is_deployed_and_nothing_else_runs_votemon(env: str) -> None:
    objs = tree.env_objects(env)
    votemon = {
        obj["metadata"]["name"]
        for obj in objs
        if obj["kind"] == "Deployment"
        and any(
            c["image"].split("@")[0].rsplit("/", 1)[-1].split(":")[0] == "votemon"
            for c in obj["spec"]["template"]["spec"]["containers"]
        )
    }
    assert votemon == set(tree.SERVICES)
    assert {p.name for p in (REPO / "base").iterdir()} >= set(tree.SERVICES), "a base per service"


def test_the_repository_is_written_once() -> None:
    url = tree.repository().url
    holders = [
        str(p.relative_to(REPO))
        for part in ("apps", "base", "overlays", "scripts", "cluster")
        for p in sorted((REPO / part).rglob("*"))
        if p.is_file() and url in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert holders == ["apps/base/repository.yaml"]
    for env in tree.ENVS:
        for app in tree.applications(env):
            assert app["spec"]["source"]["repoURL"] == url
            assert app["spec"]["source"]["targetRevision"] == tree.repository().revision


def keda_env_names(objs: list[tree.Obj]) -> set[str]:
    return {
        value
        for obj in objs
        if obj["kind"] == "ScaledObject"
        for trigger in obj["spec"]["triggers"]
        for key, value in trigger["metadata"].items()
        if key.endswith("FromEnv")
    }


def test_the_cluster_settings_restate_no_default_but_what_keda_reads() -> None:
    config = find(tree.env_objects("gke"), "ConfigMap", "votemon-config")["data"]
    defaults = {name.upper(): str(field.default) for name, field in Settings.model_fields.items()}
    keda = keda_env_names(tree.env_objects("gke"))
    assert keda == {"KAFKA_BOOTSTRAP_SERVERS", "CONSUMER_GROUP", "VOTES_TOPIC"}
    assert keda <= config.keys(), "KEDA resolves these from the consumer's envFrom ConfigMap"
    assert set(config) <= set(defaults), "every key is a setting"
    restated = {key for key, value in config.items() if defaults[key] == value} - keda
    assert restated == set()

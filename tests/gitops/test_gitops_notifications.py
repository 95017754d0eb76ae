"""Argo CD notifications' configuration (argocd/notifications), checked offline: each environment's
render holds every trigger's templates, subscribes to triggers that exist through a service it
defines, and fires each trigger once per revision (a re-sync of the same commit must say nothing)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.gitops.gitops_support import REPO
from votemon.gitops.kustomize import kustomize

TRIGGERS = ("on-deployed", "on-sync-failed", "on-degraded")
# The service each environment reports through, and what its templates must say to it.
SERVICES = {"local": ("webhook.receiver", "webhook"), "gke": ("github", "github")}


def config(environment: str) -> dict[str, str]:
    objects = [
        o
        for o in yaml.safe_load_all(kustomize("build", REPO / "argocd" / "notifications" / environment))
        if o
    ]
    [config_map] = [o for o in objects if o["kind"] == "ConfigMap"]
    assert config_map["metadata"] == {"name": "argocd-notifications-cm", "namespace": "argocd"}
    data: dict[str, str] = config_map["data"]
    return data


@pytest.mark.parametrize("environment", sorted(SERVICES))
def test_every_subscribed_trigger_sends_templates_that_exist(environment: str) -> None:
    data = config(environment)
    service, template_key = SERVICES[environment]
    assert f"service.{service}" in data
    [subscription] = yaml.safe_load(data["subscriptions"])
    assert subscription["recipients"] == [service.split(".")[-1]]
    assert tuple(subscription["triggers"]) == TRIGGERS
    for trigger in TRIGGERS:
        [condition] = yaml.safe_load(data[f"trigger.{trigger}"])
        assert condition["oncePer"].startswith("app.status."), (trigger, "once per revision")
        assert "revision" in condition["oncePer"]
        for template in condition["send"]:
            body: dict[str, Any] = yaml.safe_load(data[f"template.{template}"])
            assert template_key in body, (template, template_key)


def test_secrets_are_referenced_never_written() -> None:
    """Service credentials and URLs come from argocd-notifications-secret ($key), not from git."""
    for environment in SERVICES:
        for key, value in config(environment).items():
            if key.startswith("service."):
                settings = yaml.safe_load(value)
                assert all(str(v).startswith("$") for k, v in settings.items() if k != "retryMax"), (
                    key,
                    settings,
                )

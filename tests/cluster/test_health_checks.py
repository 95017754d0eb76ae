"""The health checks the roots gate their waves on (argocd/health), run by the argocd CLI the cluster
built, against the states a resource really goes through: `argocd admin settings resource-overrides
health` evaluates an object with an argocd-cm, ours or one without overrides (Argo CD's built-in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.cluster_support import ROOT, Cluster, Obj
from votemon.gitops.kustomize import kustomize

pytestmark = pytest.mark.cluster

ARGOCD_DEFAULTS: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}}
SCALE_OK = {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale", "message": "ok"}
NO_REQUEST = "failed to get cpu utilization: missing request for cpu"
NO_METRICS = (
    "the HPA was unable to compute the replica count: failed to get cpu utilization: "
    "did not receive metrics for targeted pods (pods might be unready)"
)


def hpa(*conditions: dict[str, str]) -> Obj:
    status: dict[str, Any] = {"currentReplicas": 2, "desiredReplicas": 2}
    if conditions:
        status["conditions"] = list(conditions)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "consumer", "namespace": "so1-p2"},
        "spec": {"minReplicas": 2, "maxReplicas": 5},
        "status": status,
    }


def scaling_active(status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": "ScalingActive", "status": status, "reason": reason, "message": message or reason}


def health(cluster: Cluster, tmp_path: Path, obj: Obj, argocd_cm: Obj | None = None) -> tuple[str, str]:
    """(status, message) of `obj` under our checks, or under the argocd-cm `argocd_cm`."""
    cm = tmp_path / "argocd-cm.yaml"
    cm.write_text(yaml.safe_dump(argocd_cm) if argocd_cm else kustomize("build", ROOT / "argocd" / "health"))
    resource = tmp_path / "resource.yaml"
    resource.write_text(yaml.safe_dump(obj))
    out = cluster.argocd(
        "admin", "settings", "resource-overrides", "health", str(resource), "--argocd-cm-path", str(cm)
    )
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return fields.get("STATUS", ""), fields.get("MESSAGE", "")


def test_an_hpa_waiting_for_its_first_metrics_is_progressing_where_argo_cd_says_degraded(
    cluster: Cluster, tmp_path: Path
) -> None:
    waiting = hpa(SCALE_OK, scaling_active("False", "FailedGetResourceMetric", NO_METRICS))
    assert health(cluster, tmp_path, waiting, ARGOCD_DEFAULTS) == ("Degraded", NO_METRICS)
    assert health(cluster, tmp_path, waiting) == ("Progressing", NO_METRICS)


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ((), ("Progressing", "waiting for the HPA's first metrics")),
        ((SCALE_OK, scaling_active("True", "ValidMetricFound")), ("Healthy", "ValidMetricFound")),
        ((SCALE_OK, scaling_active("False", "ScalingDisabled")), ("Healthy", "ScalingDisabled")),
        (
            (SCALE_OK, scaling_active("False", "FailedGetResourceMetric", NO_REQUEST)),
            ("Degraded", NO_REQUEST),
        ),
        ((SCALE_OK, scaling_active("False", "InvalidSelector")), ("Degraded", "InvalidSelector")),
        (
            ({"type": "AbleToScale", "status": "False", "reason": "FailedGetScale", "message": "no target"},),
            ("Degraded", "no target"),
        ),
    ],
    ids=["created", "scaling", "scaled-to-zero", "no-cpu-request", "bad-selector", "no-target"],
)
def test_an_hpa_is_degraded_only_for_what_an_operator_must_fix(
    cluster: Cluster, tmp_path: Path, conditions: tuple[dict[str, str], ...], expected: tuple[str, str]
) -> None:
    assert health(cluster, tmp_path, hpa(*conditions)) == expected


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("Healthy", ("Healthy", "pipeline is Healthy")),
        ("Progressing", ("Progressing", "pipeline is Progressing")),
        ("Degraded", ("Degraded", "pipeline is Degraded")),
        ("Missing", ("Progressing", "its resources are not created yet")),
    ],
)
def test_a_child_application_is_as_healthy_as_it_reports_and_missing_is_on_its_way(
    cluster: Cluster, tmp_path: Path, reported: str, expected: tuple[str, str]
) -> None:
    """Argo CD leaves a child's Missing out of its root's health, so a root would be Healthy before its
    last wave's child has synced: our check makes that child Progressing."""
    child: Obj = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "pipeline", "namespace": "argocd"},
        "status": {"health": {"status": reported, "message": f"pipeline is {reported}"}},
    }
    assert health(cluster, tmp_path, child) == expected


def test_a_child_application_argo_cd_refuses_is_degraded_with_its_reason(
    cluster: Cluster, tmp_path: Path
) -> None:
    """A child in a project it may not use never syncs: its root shows why, instead of waiting on it."""
    refused = "application repo git://127.0.0.1/votemon.git is not permitted in project 'default'"
    child: Obj = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "rogue", "namespace": "argocd"},
        "status": {
            "health": {"status": "Missing"},
            "conditions": [
                {"type": "SharedResourceWarning", "message": "a warning"},
                {"type": "InvalidSpecError", "message": refused},
            ],
        },
    }
    assert health(cluster, tmp_path, child) == ("Degraded", refused)

"""Scaling, disruption and network: autoscaled Deployments leave replicas out, PDBs, NetworkPolicies."""

from __future__ import annotations

from votemon.gitops.objects import (
    autoscaled,
    label_selector_matches,
    max_replicas,
    pod_labels,
)
from votemon.gitops.tree import (
    Obj,
    name_of,
)


def check_autoscaling(objs: list[Obj]) -> list[str]:
    """An autoscaled Deployment leaves `replicas` out; its autoscaler has CPU requests to work on."""
    errors = []
    scalers = autoscaled(objs)
    for deploy in (o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] in scalers):
        if "replicas" in deploy["spec"]:
            errors.append(
                f"{name_of(deploy)}: sets replicas although {name_of(scalers[deploy['metadata']['name']])}"
            )
    return errors


def check_pdbs(objs: list[Obj]) -> list[str]:
    """Every Deployment that runs (or may run) more than one pod has a PodDisruptionBudget."""
    scalers = autoscaled(objs)
    pdbs = [o for o in objs if o["kind"] == "PodDisruptionBudget"]
    errors = []
    for deploy, labels in pod_labels([o for o in objs if o["kind"] == "Deployment"]):
        size = max_replicas(scalers.get(deploy["metadata"]["name"], deploy))
        if size > 1 and not any(label_selector_matches(p["spec"]["selector"], labels) for p in pdbs):
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
    for workload, labels in pod_labels(objs):
        if not any(label_selector_matches(p["spec"]["podSelector"], labels) for p in policies):
            errors.append(f"{name_of(workload)}: no NetworkPolicy selects its pods")
    return errors

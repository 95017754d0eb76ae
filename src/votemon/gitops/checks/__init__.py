"""The validator's checks, one module per kind. Each check is a function from rendered objects to a
list of error strings (empty: passed); the registries below say where each one runs."""

from __future__ import annotations

from votemon.gitops.checks.argo import (
    check_application_waves,
    check_argo_apps,
    check_argo_sources,
    check_idempotent_apply,
    check_namespace_kept,
    wave_errors,
)
from votemon.gitops.checks.contract import check_grpc_balancing, check_kafka
from votemon.gitops.checks.edge import (
    check_cloud_armor,
    check_hsts,
    check_https,
    check_redirect,
    check_ssl_policy,
)
from votemon.gitops.checks.kafka_auth import check_kafka_auth
from votemon.gitops.checks.pods import check_images, check_pod_security
from votemon.gitops.checks.references import (
    check_namespaces,
    check_references,
    check_services_select_pods,
    check_unique,
)
from votemon.gitops.checks.runtime import (
    check_config_rollout,
    check_credentials,
    check_dns_egress,
    check_front_drain,
    check_gmp,
    check_grafana,
    check_secret_rotation,
    check_spread,
)
from votemon.gitops.checks.scaling import check_autoscaling, check_network_policies, check_pdbs
from votemon.gitops.checks.schemas import check_schemas
from votemon.gitops.checks.trust import check_argocd_access, check_not_synced, check_projects
from votemon.gitops.tree import Check

__all__ = [
    "DIR_CHECKS",
    "EDGE_CHECKS",
    "ENV_CHECKS",
    "GKE_CHECKS",
    "GKE_RUNTIME_CHECKS",
    "RUNTIME_CHECKS",
    "check_application_waves",
    "check_argo_apps",
    "check_argo_sources",
    "check_argocd_access",
    "check_autoscaling",
    "check_cloud_armor",
    "check_config_rollout",
    "check_credentials",
    "check_dns_egress",
    "check_front_drain",
    "check_gmp",
    "check_grafana",
    "check_grpc_balancing",
    "check_hsts",
    "check_https",
    "check_idempotent_apply",
    "check_images",
    "check_kafka",
    "check_kafka_auth",
    "check_namespace_kept",
    "check_namespaces",
    "check_network_policies",
    "check_not_synced",
    "check_pdbs",
    "check_pod_security",
    "check_projects",
    "check_redirect",
    "check_references",
    "check_schemas",
    "check_secret_rotation",
    "check_services_select_pods",
    "check_spread",
    "check_ssl_policy",
    "check_unique",
    "env_checks",
    "wave_errors",
]

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
# gke's public edge (overlays/gke/edge): HTTPS only, behind an SSL policy and Cloud Armor.
EDGE_CHECKS: dict[str, Check] = {
    "https": check_https,
    "redirect": check_redirect,
    "hsts": check_hsts,
    "ssl policy": check_ssl_policy,
    "cloud armor": check_cloud_armor,
}
GKE_CHECKS: dict[str, Check] = {"pdbs": check_pdbs, **EDGE_CHECKS}
# What breaks on a running cluster although every object is valid (runtime.py).
RUNTIME_CHECKS: dict[str, Check] = {
    "namespace kept": check_namespace_kept,
    "dns egress": check_dns_egress,
    "secret rotation": check_secret_rotation,
    "grafana": check_grafana,
    "config rollout": check_config_rollout,
    "credentials": check_credentials,
    "kafka auth": check_kafka_auth,
    "gmp": check_gmp,
}
GKE_RUNTIME_CHECKS: dict[str, Check] = {"front drain": check_front_drain, "spread": check_spread}


def env_checks(env: str) -> dict[str, Check]:
    return ENV_CHECKS | RUNTIME_CHECKS | (GKE_CHECKS | GKE_RUNTIME_CHECKS if env == "gke" else {})

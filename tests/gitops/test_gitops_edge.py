"""gke's public edge (overlays/gke/edge, votemon.gitops.checks.edge): each check passes on the tree and
names what one break in a copy of the rendered gke environment loses; GKE's policy kinds validate
against the stand-in CRDs, which come from the one list the local cluster installs."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

import pytest

from tests.gitops.gitops_support import REPO, env_copy, find
from votemon.gitops import checks, tree
from votemon.gitops.checks import schemas

Mutation = Callable[[list[tree.Obj]], None]
Check = Callable[[list[tree.Obj]], list[str]]


def gateway(objs: list[tree.Obj]) -> tree.Obj:
    return find(objs, "Gateway", "votemon")


def front_rule(objs: list[tree.Obj]) -> tree.Obj:
    rule: tree.Obj = find(objs, "HTTPRoute", "front")["spec"]["rules"][0]
    return rule


def backend_defaults(objs: list[tree.Obj]) -> tree.Obj:
    defaults: tree.Obj = find(objs, "GCPBackendPolicy", "front")["spec"]["default"]
    return defaults


def drop(kind: str, name: str) -> Mutation:
    return lambda objs: objs.remove(find(objs, kind, name))


def without_https_listener(objs: list[tree.Obj]) -> None:
    spec = gateway(objs)["spec"]
    spec["listeners"] = [lst for lst in spec["listeners"] if lst["protocol"] != "HTTPS"]


def with_certificate_secret(objs: list[tree.Obj]) -> None:
    listener = next(lst for lst in gateway(objs)["spec"]["listeners"] if lst["protocol"] == "HTTPS")
    listener["tls"] = {"mode": "Terminate", "certificateRefs": [{"name": "front-tls"}]}


def with_tls_secret(objs: list[tree.Obj]) -> None:
    objs.append(
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": {"name": "x"}}
    )


def front_on_every_listener(objs: list[tree.Obj]) -> None:
    find(objs, "HTTPRoute", "front")["spec"]["parentRefs"][0].pop("sectionName")


def redirect_status(status: int) -> Mutation:
    def mutate(objs: list[tree.Obj]) -> None:
        rule = find(objs, "HTTPRoute", "https-redirect")["spec"]["rules"][0]
        rule["filters"][0]["requestRedirect"]["statusCode"] = status

    return mutate


def hsts(value: str | None) -> Mutation:
    def mutate(objs: list[tree.Obj]) -> None:
        rule = front_rule(objs)
        if value is None:
            rule.pop("filters")
        else:
            rule["filters"][0]["responseHeaderModifier"]["set"][0]["value"] = value

    return mutate


def set_default(getter: Callable[[list[tree.Obj]], tree.Obj], key: str, value: object) -> Mutation:
    def mutate(objs: list[tree.Obj]) -> None:
        getter(objs)[key] = value

    return mutate


CASES: list[tuple[str, Check, Mutation, str]] = [
    ("no https listener", checks.check_https, without_https_listener, "no HTTPS listener on port 443"),
    (
        "no certificate map",
        checks.check_https,
        lambda o: gateway(o)["metadata"].pop("annotations"),
        "networking.gke.io/certmap",
    ),
    ("certificate in a Secret", checks.check_https, with_certificate_secret, "certificate Secrets"),
    ("tls key in git", checks.check_https, with_tls_secret, "a TLS key in git"),
    ("no redirect", checks.check_redirect, drop("HTTPRoute", "https-redirect"), "does not redirect"),
    ("temporary redirect", checks.check_redirect, redirect_status(302), "does not redirect"),
    ("front on http", checks.check_redirect, front_on_every_listener, "HTTPRoute/front: served on HTTP"),
    ("no hsts", checks.check_hsts, hsts(None), "no Strict-Transport-Security"),
    ("short hsts", checks.check_hsts, hsts("max-age=300; includeSubDomains"), "max-age >= 31536000"),
    ("hsts without subdomains", checks.check_hsts, hsts("max-age=31536000"), "includeSubDomains"),
    ("no gateway policy", checks.check_ssl_policy, drop("GCPGatewayPolicy", "votemon"), "sslPolicy"),
    (
        "no ssl policy",
        checks.check_ssl_policy,
        lambda o: find(o, "GCPGatewayPolicy", "votemon")["spec"].pop("default"),
        "sslPolicy",
    ),
    ("no backend policy", checks.check_cloud_armor, drop("GCPBackendPolicy", "front"), "Cloud Armor"),
    (
        "no security policy",
        checks.check_cloud_armor,
        lambda o: backend_defaults(o).pop("securityPolicy"),
        "Service/front: public, but no GCPBackendPolicy with a Cloud Armor",
    ),
    (
        "no request logs",
        checks.check_cloud_armor,
        set_default(backend_defaults, "logging", {"enabled": False}),
        "does not log",
    ),
]


@pytest.mark.parametrize(("name", "check", "mutate", "needle"), CASES, ids=[c[0] for c in CASES])
def test_edge_check_fails_on_a_broken_copy(name: str, check: Check, mutate: Mutation, needle: str) -> None:
    objs = env_copy("gke")
    assert check(objs) == [], name
    mutate(objs)
    errors = check(objs)
    assert any(needle in e for e in errors), (name, errors)


def test_the_edge_checks_run_on_gke_only() -> None:
    """dev's ingress-nginx is no public Gateway: the edge is GKE's."""
    edge = set(checks.EDGE_CHECKS)
    assert edge == {"https", "redirect", "hsts", "ssl policy", "cloud armor"}
    assert edge <= set(checks.env_checks("gke"))
    assert not edge & set(checks.env_checks("dev"))


@pytest.mark.parametrize(
    ("kind", "path", "value", "needle"),
    [
        ("GCPBackendPolicy", ("spec", "default", "securityPolicys"), "x", "securityPolicys"),
        ("GCPBackendPolicy", ("spec", "default", "logging", "sampleRate"), 2_000_000, "2000000"),
        ("GCPGatewayPolicy", ("spec", "targetRef", "kind"), "Service", "Service"),
        ("GCPGatewayPolicy", ("spec", "default", "sslPolicy"), 12, "12"),
    ],
)
def test_gke_policies_are_validated_against_the_stand_in_crds(
    kind: str, path: tuple[str, ...], value: object, needle: str
) -> None:
    (obj,) = [o for o in env_copy("gke") if o["kind"] == kind]
    assert schemas.schema_errors(obj) == []
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = schemas.schema_errors(obj)
    assert any(needle in e for e in errors), errors


def test_the_validator_and_the_local_cluster_read_one_list_of_crd_dirs() -> None:
    """`scripts/gitops crd-dirs` prints what the validator reads; the scripts that install CRDs on the
    local cluster loop over it and name no directory of their own."""
    printed = subprocess.run(
        [REPO / "scripts" / "gitops", "crd-dirs"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert printed == [str(d) for d in schemas.crd_dirs()]
    assert schemas.STAND_IN_CRDS in schemas.crd_dirs()
    for script in ("cluster/operators.sh", "scripts/argocd-bootstrap.sh"):
        text = (REPO / script).read_text()
        assert 'scripts/gitops" crd-dirs' in text, script
        assert not re.search(r"kubectl apply .*schemas/", text), script


def test_every_stand_in_crd_is_recorded_as_one() -> None:
    readme = (schemas.STAND_IN_CRDS / "README.md").read_text()
    files = sorted(p.name for p in schemas.STAND_IN_CRDS.glob("*.yaml"))
    assert files
    for name in files:
        assert f"| {name} |" in readme, name
        assert (schemas.STAND_IN_CRDS / name).read_text().startswith("# STAND-IN, not upstream"), name

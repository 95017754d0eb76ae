"""The public edge on GKE (overlays/gke/edge): what a public Gateway must hold so that the front is
only reached over HTTPS, behind an SSL policy and Cloud Armor (docs/internet-safety.md). A Gateway is
public when its class is one of GKE's external ones."""

from __future__ import annotations

import re
from collections.abc import Iterator

from votemon.gitops.tree import Obj, name_of

PUBLIC_CLASSES = {"gke-l7-global-external-managed", "gke-l7-regional-external-managed", "gke-l7-gxlb"}
CERTMAP = "networking.gke.io/certmap"
HSTS = "Strict-Transport-Security"
HSTS_MIN_AGE = 31_536_000  # one year: what browsers' preload lists ask


def _gateways(objs: list[Obj]) -> list[Obj]:
    return [o for o in objs if o["kind"] == "Gateway" and o["spec"].get("gatewayClassName") in PUBLIC_CLASSES]


def _listeners(gateway: Obj, protocol: str) -> set[str]:
    return {lst["name"] for lst in gateway["spec"].get("listeners", []) if lst.get("protocol") == protocol}


def _attachments(objs: list[Obj], gateway: Obj) -> Iterator[tuple[Obj, set[str]]]:
    """(route, the listeners of `gateway` it attaches to): no sectionName means every listener."""
    every = {lst["name"] for lst in gateway["spec"].get("listeners", [])}
    for route in (o for o in objs if o["kind"] == "HTTPRoute"):
        for parent in route["spec"].get("parentRefs", []):
            if parent.get("kind", "Gateway") == "Gateway" and parent["name"] == gateway["metadata"]["name"]:
                yield route, ({parent["sectionName"]} if parent.get("sectionName") else every)


def _is_redirect(route: Obj) -> bool:
    """Every rule answers a 301 to https and sends nothing to a backend."""
    rules = route["spec"].get("rules", [])
    return bool(rules) and all(
        not rule.get("backendRefs")
        and any(
            f.get("type") == "RequestRedirect"
            and f.get("requestRedirect", {}).get("scheme") == "https"
            and f["requestRedirect"].get("statusCode") == 301
            for f in rule.get("filters", [])
        )
        for rule in rules
    )


def _targets(objs: list[Obj], kind: str, target_kind: str, name: str) -> list[Obj]:
    return [
        o
        for o in objs
        if o["kind"] == kind
        and o["spec"].get("targetRef", {}).get("kind") == target_kind
        and o["spec"]["targetRef"].get("name") == name
    ]


def check_https(objs: list[Obj]) -> list[str]:
    """A public Gateway listens for HTTPS on 443 with a Certificate Manager map (a Google-managed
    certificate): no certificate Secret, so no key, in git."""
    errors = []
    for gateway in _gateways(objs):
        where = name_of(gateway)
        https = [lst for lst in gateway["spec"].get("listeners", []) if lst.get("protocol") == "HTTPS"]
        if not any(lst.get("port") == 443 for lst in https):
            errors.append(f"{where}: no HTTPS listener on port 443")
        if not gateway["metadata"].get("annotations", {}).get(CERTMAP):
            errors.append(f"{where}: no {CERTMAP} annotation (Certificate Manager map)")
        errors.extend(
            f"{where}: listener {lst['name']} names certificate Secrets: use the managed certificate"
            for lst in https
            if lst.get("tls", {}).get("certificateRefs")
        )
    errors.extend(
        f"{name_of(o)}: a TLS key in git"
        for o in objs
        if o["kind"] == "Secret" and o.get("type") == "kubernetes.io/tls"
    )
    return errors


def check_redirect(objs: list[Obj]) -> list[str]:
    """Plain HTTP only redirects: a route answering 301 to https on every HTTP listener of a public
    Gateway, and no other route there (the front is served over HTTPS only)."""
    errors = []
    for gateway in _gateways(objs):
        http = _listeners(gateway, "HTTP")
        redirected: set[str] = set()
        for route, listeners in _attachments(objs, gateway):
            on_http = listeners & http
            if _is_redirect(route):
                redirected |= on_http
            elif on_http:
                errors.append(
                    f"{name_of(route)}: served on HTTP listener {', '.join(sorted(on_http))}"
                    f" of {name_of(gateway)}"
                )
        errors.extend(
            f"{name_of(gateway)}: HTTP listener {name} does not redirect to https (301)"
            for name in sorted(http - redirected)
        )
    return errors


def _hsts_ok(value: str) -> bool:
    age = re.search(r"max-age=(\d+)", value)
    return age is not None and int(age.group(1)) >= HSTS_MIN_AGE and "includesubdomains" in value.lower()


def check_hsts(objs: list[Obj]) -> list[str]:
    """Every rule that serves a backend over HTTPS sets Strict-Transport-Security for a year or more,
    subdomains included, so that a browser never comes back over plain HTTP."""
    errors = []
    for gateway in _gateways(objs):
        https = _listeners(gateway, "HTTPS")
        for route, listeners in _attachments(objs, gateway):
            if not listeners & https:
                continue
            for index, rule in enumerate(route["spec"].get("rules", [])):
                headers = [
                    h
                    for f in rule.get("filters", [])
                    if f.get("type") == "ResponseHeaderModifier"
                    for h in f.get("responseHeaderModifier", {}).get("set", [])
                    if h.get("name", "").lower() == HSTS.lower()
                ]
                if rule.get("backendRefs") and not any(_hsts_ok(str(h.get("value", ""))) for h in headers):
                    errors.append(
                        f"{name_of(route)}: rule {index}: no {HSTS}"
                        f" with max-age >= {HSTS_MIN_AGE}; includeSubDomains"
                    )
    return errors


def check_ssl_policy(objs: list[Obj]) -> list[str]:
    """A GCPGatewayPolicy names an SSL policy (TLS >= 1.2, made by scripts/gcp-bootstrap.sh edge) for
    each public Gateway: without it the load balancer also accepts TLS 1.0."""
    errors = []
    for gateway in _gateways(objs):
        policies = _targets(objs, "GCPGatewayPolicy", "Gateway", gateway["metadata"]["name"])
        if not any(p["spec"].get("default", {}).get("sslPolicy") for p in policies):
            errors.append(f"{name_of(gateway)}: no GCPGatewayPolicy with an sslPolicy")
    return errors


def check_cloud_armor(objs: list[Obj]) -> list[str]:
    """Each Service a public Gateway routes to has a GCPBackendPolicy with a Cloud Armor policy and
    request logging on (the per-IP ban is the edge's; logs show who was banned)."""
    errors = []
    for gateway in _gateways(objs):
        services = {
            backend["name"]
            for route, _ in _attachments(objs, gateway)
            for rule in route["spec"].get("rules", [])
            for backend in rule.get("backendRefs", [])
            if backend.get("kind", "Service") == "Service"
        }
        for service in sorted(services):
            defaults = [
                p["spec"].get("default", {}) for p in _targets(objs, "GCPBackendPolicy", "Service", service)
            ]
            if not any(d.get("securityPolicy") for d in defaults):
                errors.append(
                    f"Service/{service}: public, but no GCPBackendPolicy with a Cloud Armor securityPolicy"
                )
            if not any(
                d.get("logging", {}).get("enabled") and d["logging"].get("sampleRate", 0) > 0
                for d in defaults
            ):
                errors.append(f"Service/{service}: public, but its GCPBackendPolicy does not log requests")
    return errors

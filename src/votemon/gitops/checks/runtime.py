"""Runtime rules: what breaks on a running cluster although every object is valid."""

from __future__ import annotations

import ipaddress
import re

from votemon.gitops.objects import (
    find_workload,
    label_selector_matches,
    pod_labels,
    pod_references,
    pod_templates,
    secret_producers,
    service_config,
    service_pods,
)
from votemon.gitops.tree import (
    GENERATED_SUFFIX,
    Obj,
    name_of,
)

# Each workload's datastore credentials: one Redis user each (base/redis/users.acl), MongoDB's for
# the consumer only (results reads Redis alone; gke: its readWrite user, mongodb-consumer); the data
# stores hold them all.
DATASTORE_CREDENTIALS = {
    "consumer": {"redis-consumer", "mongodb-auth", "mongodb-consumer"},
    "results": {"redis-results"},
    "grafana": {"redis-grafana"},
    "redis": {"redis-auth", "redis-consumer", "redis-results", "redis-grafana"},
    "mongodb": {"mongodb-auth", "mongodb-consumer"},
}
DATASTORE_SECRETS = set().union(*DATASTORE_CREDENTIALS.values())
DATA_STORES = {"redis", "mongodb"}  # their images read a password from the environment (REDISCLI_AUTH...)
# Where pods resolve names: kube-dns pods, Cloud DNS for GKE (the metadata server) and NodeLocal
# DNSCache (a link-local address on every node, default on Autopilot and recent Standard clusters).
DNS_LINK_LOCAL = {"169.254.169.254": "Cloud DNS", "169.254.20.10": "NodeLocal DNSCache"}
GOOGLE_LB_KEEPALIVE_SECONDS = 600


def check_front_drain(objs: list[Obj]) -> list[str]:
    """The front behind Google's load balancer: keep-alive above its 600 s, a preStop sleep while
    the NEG drops the endpoint, and a grace period covering preStop + drain + in-flight requests."""
    found = find_workload(objs, "front")
    if found is None:
        return ["Deployment/front: missing"]
    _, template = found
    pod = template["spec"]
    config = service_config(objs, pod)
    errors = []
    if float(config["KEEP_ALIVE_TIMEOUT_SECONDS"]) <= GOOGLE_LB_KEEPALIVE_SECONDS:
        errors.append(
            f"Deployment/front: keep-alive {config['KEEP_ALIVE_TIMEOUT_SECONDS']} s is not above the "
            f"load balancer's {GOOGLE_LB_KEEPALIVE_SECONDS} s (502s on reused connections)"
        )
    pre_stop = pod["containers"][0].get("lifecycle", {}).get("preStop", {})
    sleep = int(pre_stop.get("sleep", {}).get("seconds", 0))
    if sleep <= 0:
        errors.append("Deployment/front: no preStop sleep (502s while the NEG still sends to a stopping pod)")
    needed = sleep + float(config["FRONT_DRAIN_SECONDS"]) + float(config["SHUTDOWN_GRACE_SECONDS"])
    grace = int(pod.get("terminationGracePeriodSeconds", 30))
    if grace < needed:
        errors.append(
            f"Deployment/front: terminationGracePeriodSeconds {grace} < preStop + drain + grace = {needed:g}"
        )
    return errors


def _covers(peer: Obj, address: str) -> bool:

    block = peer.get("ipBlock")
    if not block:
        return False
    network = ipaddress.ip_network(block["cidr"])
    excepted = any(ipaddress.ip_address(address) in ipaddress.ip_network(e) for e in block.get("except", []))
    return ipaddress.ip_address(address) in network and not excepted


def _allows_dns(rule: Obj, protocol: str) -> bool:
    return any(
        p.get("port") in (53, "dns", "dns-tcp") and p.get("protocol", "TCP") == protocol
        for p in rule.get("ports", [])
    ) or not rule.get("ports")


def check_dns_egress(objs: list[Obj]) -> list[str]:
    """Every pod may resolve names wherever the cluster's DNS lives: kube-dns pods, Cloud DNS
    (169.254.169.254) and NodeLocal DNSCache (169.254.20.10), on UDP and TCP 53."""
    rules = [
        rule
        for p in objs
        if p["kind"] == "NetworkPolicy" and p["spec"].get("podSelector") == {}
        for rule in p["spec"].get("egress", [])
    ]
    errors = []
    for protocol in ("UDP", "TCP"):
        dns_rules = [r for r in rules if _allows_dns(r, protocol)]
        peers = [peer for r in dns_rules for peer in r.get("to", [])]
        if not any(
            peer.get("podSelector", {}).get("matchLabels", {}).get("k8s-app") == "kube-dns" for peer in peers
        ):
            errors.append(f"DNS egress: no rule for every pod allows kube-dns pods on {protocol} 53")
        errors.extend(
            f"DNS egress: no rule for every pod allows {address} ({what}) on {protocol} 53"
            for address, what in DNS_LINK_LOCAL.items()
            if not any(_covers(peer, address) for peer in peers)
        )
    return errors


def check_secret_rotation(objs: list[Obj]) -> list[str]:
    """Datastore passwords change only through the rotation runbook: an ExternalSecret refreshing on
    its own would hand pods a password MongoDB (kept from initialisation) and Redis (read at start)
    do not have. And no password on a command line (`ps`, /proc/<pid>/cmdline)."""
    errors = [
        f"{name_of(es)}: refreshPolicy {es['spec'].get('refreshPolicy', 'Periodic')}, not CreatedOnce"
        for es in objs
        if es["kind"] == "ExternalSecret" and es["spec"].get("refreshPolicy") != "CreatedOnce"
    ]
    for workload, template in pod_templates(objs):
        for container in template["spec"].get("initContainers", []) + template["spec"]["containers"]:
            secret_env = {
                e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
            }
            argv = " ".join(map(str, container.get("command", []) + container.get("args", [])))
            errors.extend(
                f"{name_of(workload)}/{container['name']}: secret {name} on the command line"
                for name in sorted(secret_env)
                if f"$({name})" in argv
            )
            if re.search(r"--requirepass\b|--pass(word)?[ =]", argv):
                errors.append(
                    f"{name_of(workload)}/{container['name']}: a password option on the command line"
                )
    return errors


def check_grafana(objs: list[Obj]) -> list[str]:
    """Grafana logs to the console (its default file log fails on a read-only root filesystem) and
    does not fetch its default app plugins at every start (only the pinned plugin it needs)."""
    found = find_workload(objs, "grafana")
    if found is None:
        return []
    container = found[1]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    errors = []
    if env.get("GF_LOG_MODE") != "console":
        errors.append("Deployment/grafana: GF_LOG_MODE is not console (file logging on a read-only root)")
    if env.get("GF_PLUGINS_PREINSTALL_DISABLED") == "true" and env.get("GF_PLUGINS_PREINSTALL_SYNC"):
        errors.append(
            "Deployment/grafana: GF_PLUGINS_PREINSTALL_DISABLED also drops GF_PLUGINS_PREINSTALL_SYNC"
        )
    disabled = set(filter(None, (env.get("GF_PLUGINS_DISABLE_PLUGINS") or "").split(",")))
    missing = sorted(GRAFANA_DEFAULT_APPS - disabled)
    if missing and env.get("GF_PLUGINS_PREINSTALL_DISABLED") != "true":
        errors.append(f"Deployment/grafana: default app plugins still preinstalled: {', '.join(missing)}")
    if env.get("GF_PLUGINS_PREINSTALL_AUTO_UPDATE") != "false":
        errors.append("Deployment/grafana: GF_PLUGINS_PREINSTALL_AUTO_UPDATE is not false (the pin moves)")
    return errors


# Grafana 12's default preinstalled app plugins (pkg/setting/setting_plugins.go
# defaultPreinstallPlugins); the data sources in that list ship with Grafana itself.
GRAFANA_DEFAULT_APPS = {
    "grafana-lokiexplore-app",
    "grafana-pyroscope-app",
    "grafana-exploretraces-app",
    "grafana-metricsdrilldown-app",
    "grafana-advisor-app",
}


def check_config_rollout(objs: list[Obj]) -> list[str]:
    """A change of the services' ConfigMaps rolls their pods: each is generated (hash suffix in its
    name, so the pod template changes with it) or the template carries a checksum annotation."""
    return [
        f"{name_of(workload)}: ConfigMap/{ref} is not generated (a change would not roll the pods)"
        for workload, template in service_pods(objs)
        if not any(key.startswith("checksum/") for key in template.get("metadata", {}).get("annotations", {}))
        for kind, ref in pod_references(template["spec"])
        if kind == "ConfigMap" and not GENERATED_SUFFIX.search(ref)
    ]


def check_credentials(objs: list[Obj]) -> list[str]:
    """Each workload gets only its own datastore credentials (front none, grpc-server only its Kafka
    user's, results no MongoDB's), and the clients read them as files of a mounted Secret, never
    from the environment. A KafkaUser's Secret belongs to the workload of its name alone (KEDA's
    user's to no pod: KEDA's operator reads it)."""
    kafka_users = {
        s: o["metadata"]["name"] for s, o in secret_producers(objs).items() if o["kind"] == "KafkaUser"
    }
    secrets = DATASTORE_SECRETS | set(kafka_users)
    errors: list[str] = []
    for workload, template in pod_templates(objs):
        name, pod = workload["metadata"]["name"], template["spec"]
        own = DATASTORE_CREDENTIALS.get(name, set()) | {s for s, user in kafka_users.items() if user == name}
        errors.extend(
            f"{name_of(workload)}: gets Secret/{ref}, which it does not use"
            for kind, ref in pod_references(pod)
            if kind == "Secret" and ref in secrets - own
        )
        if name in DATA_STORES:
            continue
        errors.extend(
            f"{name_of(workload)}/{container['name']}: Secret/{secret} in environment variable "
            f"{env['name']}, not a mounted file"
            for container in pod.get("initContainers", []) + pod["containers"]
            for env in container.get("env", [])
            if (secret := env.get("valueFrom", {}).get("secretKeyRef", {}).get("name")) in secrets
        )
    return errors


def check_spread(objs: list[Obj]) -> list[str]:
    """The four services spread over zones and nodes, and Kafka places replicas by zone (rack), so
    one node or zone lost keeps min.insync.replicas."""
    errors: list[str] = []
    for workload, template in service_pods(objs):
        keys = {c.get("topologyKey") for c in template["spec"].get("topologySpreadConstraints", [])}
        errors.extend(
            f"{name_of(workload)}: no topologySpreadConstraint on {key}"
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
            if key not in keys
        )
    for kafka in (o for o in objs if o["kind"] == "Kafka"):
        if kafka["spec"]["kafka"].get("rack", {}).get("topologyKey") != "topology.kubernetes.io/zone":
            errors.append(f"{name_of(kafka)}: no rack on topology.kubernetes.io/zone")
    return errors


def _admits(policy: Obj, labels: dict[str, str], port: int | str, namespace: str) -> bool:
    if not label_selector_matches(policy["spec"]["podSelector"], labels):
        return False
    for rule in policy["spec"].get("ingress", []):
        ports = [p.get("port") for p in rule.get("ports", [])]
        if ports and port not in ports:
            continue
        for peer in rule.get("from", []):
            ns = peer.get("namespaceSelector", {}).get("matchLabels", {})
            if ns.get("kubernetes.io/metadata.name") == namespace and not peer.get("podSelector"):
                return True
    return False


def check_gmp(objs: list[Obj]) -> list[str]:
    """Google Managed Prometheus scrapes from namespace gmp-system: every port a PodMonitoring
    names is open to that namespace on the pods it selects."""
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    errors = []
    for monitor in (o for o in objs if o["kind"] == "PodMonitoring"):
        for workload, labels in pod_labels(objs):
            if not label_selector_matches(monitor["spec"]["selector"], labels):
                continue
            ports = {
                p["name"]: p["containerPort"]
                for _, t in pod_templates([workload])
                for c in t["spec"]["containers"]
                for p in c.get("ports", [])
                if "name" in p
            }
            for endpoint in monitor["spec"].get("endpoints", []):
                port = endpoint["port"]
                numbers = {port, ports.get(str(port), port)}
                if not any(_admits(p, labels, n, "gmp-system") for p in policies for n in numbers):
                    errors.append(
                        f"{name_of(workload)}: {name_of(monitor)} scrapes port {port}, closed to gmp-system"
                    )
    return errors

"""The application contract: the Kafka topics the services need, gRPC balancing over every pod."""

from __future__ import annotations

import re

from votemon.gitops.objects import (
    autoscaled,
    find_workload,
    max_replicas,
    pod_labels,
    selects,
    service_config,
)
from votemon.gitops.tree import (
    Obj,
    base_name,
    name_of,
)


def check_kafka(objs: list[Obj]) -> list[str]:
    """The topics the consumer's settings name exist (votemon.settings, then votemon-config); the
    votes topic keeps the retention they say and has their partition count, and at least as many
    partitions as consumers can exist."""
    consumer = find_workload(objs, "consumer")
    config = service_config(objs, consumer[1]["spec"] if consumer else {})
    votes, dead_letters = config["VOTES_TOPIC"], config["DEAD_LETTER_TOPIC"]
    topics = {o["metadata"]["name"]: o for o in objs if o["kind"] == "KafkaTopic"}
    errors = [f"KafkaTopic/{t}: missing" for t in (votes, dead_letters) if t not in topics]
    if votes in topics:
        topic = topics[votes]["spec"]
        consumers = max_replicas(autoscaled(objs).get("consumer", {"kind": "Deployment", "spec": {}}))
        wanted = max(consumers, int(config["TOPIC_PARTITIONS"]))
        if topic["partitions"] < wanted:
            errors.append(f"KafkaTopic/{votes}: {topic['partitions']} partitions < {wanted}")
        retention = int(config["TOPIC_RETENTION_MS"])
        if int(topic.get("config", {}).get("retention.ms", 0)) != retention:
            errors.append(f"KafkaTopic/{votes}: retention.ms is not {retention} (TOPIC_RETENTION_MS)")
    return errors


def check_grpc_balancing(objs: list[Obj]) -> list[str]:
    """The front reaches every grpc-server pod: GRPC_TARGET is dns:/// on a headless Service.

    A ClusterIP would pin each HTTP/2 connection to one pod; with a headless Service DNS returns
    every ready pod and the client's round_robin policy spreads the calls.
    """
    config = next((o for o in objs if o["kind"] == "ConfigMap" and base_name(o) == "votemon-config"), None)
    if config is None:
        return ["ConfigMap/votemon-config: missing"]
    target = config["data"].get("GRPC_TARGET", "")
    match = re.fullmatch(r"dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)", target)
    if not match:
        return [f"GRPC_TARGET {target!r} is not dns:///<service>.<namespace>.svc...:<port>"]
    service, namespace, port = match.group(1), match.group(2), int(match.group(3))
    svc = next((o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == service), None)
    errors = []
    if svc is None or svc["metadata"].get("namespace") != namespace:
        return [f"GRPC_TARGET names Service {service}.{namespace}, which is not rendered"]
    if svc["spec"].get("clusterIP") != "None":
        errors.append(f"{name_of(svc)}: not headless; HTTP/2 connections would stick to one pod")
    if port not in {p["port"] for p in svc["spec"]["ports"]}:
        errors.append(f"{name_of(svc)}: has no port {port}")
    grpc_pods = [w for w, labels in pod_labels(objs) if selects(svc["spec"].get("selector", {}), labels)]
    if [name_of(w) for w in grpc_pods] != ["Deployment/grpc-server"]:
        errors.append(f"{name_of(svc)}: selects {[name_of(w) for w in grpc_pods]}, not the grpc-server pods")
    return errors

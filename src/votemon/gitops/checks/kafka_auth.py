"""Kafka's authentication and authorization (docs/security.md, finding 8): TLS and SCRAM-SHA-512 on
every listener and Kafka's own ACLs; each client a KafkaUser of its own, allowed what its work needs
on the topics and the group its settings name, its pod mounting that user's Secret and the cluster
CA where its settings say; KEDA's Kafka trigger logging in the same way as a user of its own."""

from __future__ import annotations

import posixpath

from votemon.gitops.objects import (
    find_workload,
    kafka_ca_secret,
    secret_producers,
    service_config,
)
from votemon.gitops.tree import (
    Obj,
    name_of,
)

SCRAM = "scram-sha-512"
# What each client does on Kafka (votemon.grpc_server produces, votemon.consumer consumes as its
# group and produces what it cannot count): (resource type, the setting naming it, operation).
CLIENT_NEEDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "grpc-server": (("topic", "VOTES_TOPIC", "Write"),),
    "consumer": (
        ("topic", "VOTES_TOPIC", "Read"),
        ("group", "CONSUMER_GROUP", "Read"),
        ("topic", "DEAD_LETTER_TOPIC", "Write"),
    ),
}
# KEDA's kafka scaler reads the topic's partitions and end offsets and the group's committed offsets.
KEDA_NEEDS = (("topic", "topic", "Describe"), ("group", "consumerGroup", "Describe"))
# Kafka's implied operations: Read, Write, Delete and Alter each imply Describe; All implies any.
IMPLIES = {"Describe": {"Read", "Write", "Delete", "Alter"}}


def _allows(user: Obj, resource_type: str, name: str, operation: str) -> bool:
    """Whether one of the user's allow ACLs grants operation on the named resource."""
    granting = {operation, "All", *IMPLIES.get(operation, set())}
    for acl in user["spec"].get("authorization", {}).get("acls", []):
        resource = acl.get("resource", {})
        if acl.get("type", "allow") != "allow" or resource.get("type") != resource_type:
            continue
        pattern, kind = resource.get("name", ""), resource.get("patternType", "literal")
        matches = name.startswith(pattern) if kind == "prefix" else pattern in (name, "*")
        operations = set(acl.get("operations", [])) | ({acl["operation"]} if "operation" in acl else set())
        if matches and operations & granting:
            return True
    return False


def _named(objs: list[Obj], kind: str, name: str | None) -> Obj | None:
    return next((o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name), None)


def cluster_of(user: Obj) -> str:
    name: str = user["metadata"].get("labels", {}).get("strimzi.io/cluster", "")
    return name


def secret_of(objs: list[Obj], user: Obj) -> str:
    """The Secret Strimzi's User Operator makes for a KafkaUser."""
    return next((name for name, o in secret_producers(objs).items() if o is user), "")


def _kafka_errors(kafka: Obj) -> list[str]:
    spec = kafka["spec"]["kafka"]
    errors = [
        f"{name_of(kafka)}: listener {listener.get('name')} {problem}"
        for listener in spec.get("listeners", [])
        for problem, broken in (
            ("without TLS", not listener.get("tls")),
            (f"does not authenticate with {SCRAM}", listener.get("authentication", {}).get("type") != SCRAM),
        )
        if broken
    ]
    if spec.get("authorization", {}).get("type") != "simple":
        errors.append(f"{name_of(kafka)}: authorization is not simple (no ACLs: any user may do anything)")
    if not kafka["spec"].get("entityOperator", {}).get("userOperator"):
        errors.append(f"{name_of(kafka)}: no entityOperator.userOperator (no KafkaUser gets its Secret)")
    return errors


def _user_errors(user: Obj, clusters: set[str]) -> list[str]:
    errors = []
    if user["spec"].get("authentication", {}).get("type") != SCRAM:
        errors.append(f"{name_of(user)}: authentication is not {SCRAM}")
    if user["spec"].get("authorization", {}).get("type") != "simple":
        errors.append(f"{name_of(user)}: authorization is not simple")
    if cluster_of(user) not in clusters:
        errors.append(f"{name_of(user)}: label strimzi.io/cluster names no rendered Kafka")
    return errors


def _mounts(pod: Obj, directory: str, secret: str, key: str, path: str) -> bool:
    """Whether a container of the pod mounts key of Secret `secret` as `path` in directory."""
    volumes = {v["name"]: v.get("secret", {}) for v in pod.get("volumes", [])}
    for container in pod["containers"]:
        for mount in container.get("volumeMounts", []):
            source = volumes.get(mount["name"], {})
            if mount["mountPath"].rstrip("/") != directory or source.get("secretName") != secret:
                continue
            items = source.get("items")
            if items is None or any((i.get("key"), i.get("path")) == (key, path) for i in items):
                return True
    return False


def _client_errors(objs: list[Obj], name: str, users: dict[str, Obj]) -> list[str]:
    """A client workload logs in as the KafkaUser named after it, allowed what its work needs, with
    that user's Secret at KAFKA_USERS_DIR and the cluster CA at KAFKA_CA_FILE."""
    found = find_workload(objs, name)
    if found is None:
        return []
    workload, template = found
    pod, where, user = template["spec"], name_of(workload), users.get(name)
    if user is None:
        return [f"{where}: no KafkaUser {name} to log in to Kafka as"]
    config = service_config(objs, pod)
    errors = [
        f"{name_of(user)}: no {operation} on {resource} {config[setting]} ({setting})"
        for resource, setting, operation in CLIENT_NEEDS[name]
        if not _allows(user, resource, config[setting], operation)
    ]
    users_dir, secret = config.get("KAFKA_USERS_DIR", ""), secret_of(objs, user)
    if not _mounts(pod, users_dir.rstrip("/"), secret, "password", name):
        errors.append(
            f"{where}: does not mount Secret/{secret} (key password, as {name}) "
            f"at KAFKA_USERS_DIR {users_dir!r}"
        )
    ca_file, ca_secret = config.get("KAFKA_CA_FILE", ""), kafka_ca_secret(cluster_of(user))
    if not _mounts(pod, posixpath.dirname(ca_file), ca_secret, "ca.crt", posixpath.basename(ca_file)):
        errors.append(f"{where}: does not mount Secret/{ca_secret} (key ca.crt) as KAFKA_CA_FILE {ca_file!r}")
    return errors


def _auth_params(objs: list[Obj], auth: Obj) -> dict[str, tuple[str, str, str | None]]:
    """A TriggerAuthentication's parameters: (kind, name, key) of the Secret each comes from, or
    ("ConfigMap", name, its value) for a ConfigMap's, which is no secret and so known offline."""
    params: dict[str, tuple[str, str, str | None]] = {
        r["parameter"]: ("Secret", r["name"], r["key"]) for r in auth["spec"].get("secretTargetRef", [])
    }
    for ref in auth["spec"].get("configMapTargetRef", []):
        config_map = _named(objs, "ConfigMap", ref["name"]) or {}
        params[ref["parameter"]] = ("ConfigMap", ref["name"], config_map.get("data", {}).get(ref["key"]))
    return params


def _trigger_errors(
    objs: list[Obj], scaler: Obj, trigger: Obj, users: dict[str, Obj]
) -> tuple[list[str], str]:
    """A KEDA kafka trigger's errors, and the KafkaUser it logs in as ("" if none)."""
    where = f"{name_of(scaler)}: kafka trigger"
    meta = trigger.get("metadata", {})
    errors = [
        f"{where}: {key} is not {value}"
        for key, value in (("sasl", "scram_sha512"), ("tls", "enable"))
        if meta.get(key) != value
    ]
    ref = trigger.get("authenticationRef", {}).get("name")
    auth = _named(objs, "TriggerAuthentication", ref)
    if auth is None:
        return [*errors, f"{where}: no TriggerAuthentication (authenticationRef {ref!r})"], ""
    params = _auth_params(objs, auth)
    kind, _, username = params.get("username", ("", "", None))
    user = users.get(username or "") if kind == "ConfigMap" else None
    if user is None:
        return [*errors, f"{name_of(auth)}: username {username!r} is not a KafkaUser's, from a ConfigMap"], ""
    secret = secret_of(objs, user)
    if params.get("password") != ("Secret", secret, "password"):
        errors.append(f"{name_of(auth)}: password is not key password of Secret/{secret}")
    ca_secret = kafka_ca_secret(cluster_of(user))
    if params.get("ca") != ("Secret", ca_secret, "ca.crt"):
        errors.append(f"{name_of(auth)}: ca is not key ca.crt of Secret/{ca_secret}")
    target = find_workload(objs, scaler["spec"]["scaleTargetRef"]["name"])
    config = service_config(objs, target[1]["spec"] if target else {})
    for resource, field, operation in KEDA_NEEDS:
        value = meta.get(field) or config.get(meta.get(f"{field}FromEnv", ""), "")
        if not _allows(user, resource, value, operation):
            errors.append(f"{name_of(user)}: no {operation} on {resource} {value} (the trigger's {field})")
    return errors, user["metadata"]["name"]


def check_kafka_auth(objs: list[Obj]) -> list[str]:
    """Kafka admits TLS + SCRAM-SHA-512 only and authorizes with ACLs; every KafkaUser is a SCRAM
    user with simple authorization, used by its client (grpc-server, consumer: the workload of its
    name, mounting its Secret and the CA) or by a KEDA kafka trigger, and allowed what that needs."""
    kafkas = [o for o in objs if o["kind"] == "Kafka"]
    users = {o["metadata"]["name"]: o for o in objs if o["kind"] == "KafkaUser"}
    clusters = {k["metadata"]["name"] for k in kafkas}
    errors = [e for kafka in kafkas for e in _kafka_errors(kafka)]
    for user in users.values():
        errors.extend(_user_errors(user, clusters))
    for name in CLIENT_NEEDS:
        errors.extend(_client_errors(objs, name, users))
    used = set(CLIENT_NEEDS)
    for scaler in (o for o in objs if o["kind"] == "ScaledObject"):
        for trigger in (t for t in scaler["spec"].get("triggers", []) if t.get("type") == "kafka"):
            trigger_errors, login = _trigger_errors(objs, scaler, trigger, users)
            errors.extend(trigger_errors)
            used.add(login)
    errors.extend(f"{name_of(users[name])}: no client logs in as it" for name in sorted(set(users) - used))
    return errors

"""What Argo CD deploys runs for real: the four services on the real node (cluster/node.sh), from the
image built here from the Dockerfile (cluster/image.sh), with their manifests' security settings; votes
through the front pod are counted once; an operator's commit rolls real pods that take calls.

Every check reads the running pods (kubectl exec, their IPs, the Services kube-proxy routes), so on a
cluster of kwok nodes alone, where nothing runs, each of them fails."""

from __future__ import annotations

import collections
import json
import re
from typing import Any

import httpx
import pytest

from tests.cluster.cluster_support import (
    ROOT,
    SERVICES,
    Cluster,
    GitCheckout,
    Obj,
    cluster_setting,
    eventually,
)

pytestmark = pytest.mark.cluster
REAL_NODE = cluster_setting("NODE_NAME")
IMAGES = ROOT / ".local" / "cluster" / "images"
DEMO_VOTES = ROOT / "loadtest" / "data" / "votes.json"
# The build a rollout test makes (cluster/image.sh version): the dev image's name, this tag.
NEW_VERSION = "rollout-test"
# Run inside a container: who it runs as and what it may do, as the kernel says.
PROBE = """
import json, os
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
mounts = {fields[1]: fields[3].split(",") for fields in (line.split() for line in open("/proc/mounts"))}
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(),
    "cap_eff": status["CapEff"].strip(), "no_new_privs": status["NoNewPrivs"].strip(),
    "seccomp": status["Seccomp"].strip(), "root": mounts["/"][0], "tmp": mounts["/tmp"][0],
    "env": dict(os.environ),
    "credentials": {
        folder: sorted(f for f in os.listdir(folder) if f[0] != "." and open(f"{folder}/{f}").read())
        for folder in ("/etc/votemon/redis-users", "/etc/votemon/mongodb") if os.path.isdir(folder)
    },
}))
"""
# Each service's datastore credentials, as files it can read: its own Redis user, MongoDB's for the
# consumer alone (base/*/deployment.yaml); none in the environment.
CREDENTIALS: dict[str, dict[str, list[str]]] = {
    "consumer": {"/etc/votemon/redis-users": ["consumer"], "/etc/votemon/mongodb": ["password", "username"]},
    "results": {"/etc/votemon/redis-users": ["results"]},
    "front": {},
    "grpc-server": {},
}


def ready(pod: Obj) -> bool:
    conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    return conditions.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp")


def serving(cluster: Cluster, name: str, count: int | None = None) -> list[Obj]:
    """The Ready pods of Deployment `name`, once it is rolled out with all of them on the real node."""

    def check() -> list[Obj]:
        cluster.rolled_out(name, timeout=5)
        pods = [p for p in cluster.items("pods", selector=f"app.kubernetes.io/name={name}") if ready(p)]
        assert pods, f"no Ready pod for {name}"
        assert {p["spec"]["nodeName"] for p in pods} == {REAL_NODE}, [p["spec"]["nodeName"] for p in pods]
        if count is not None:
            assert len(pods) == count, (name, [p["metadata"]["name"] for p in pods])
        return pods

    return eventually(check, timeout=180)


def probe(cluster: Cluster, pod: Obj) -> dict[str, Any]:
    out = cluster.kubectl(
        "exec", "-n", "so1-p2", pod["metadata"]["name"], "-c", "votemon", "--", "python", "-c", PROBE
    )
    found: dict[str, Any] = json.loads(out)
    return found


def service_url(cluster: Cluster, name: str) -> str:
    """The Service's cluster address, which kube-proxy routes from this host to its pods."""
    service = cluster.get("service", name)
    return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"


def totals(results: str) -> collections.Counter[str]:
    """The results pod's totals (its /api/totals, read from Redis), per band and overall."""
    body = httpx.get(f"{results}/api/totals", timeout=10).raise_for_status().json()
    found: collections.Counter[str] = collections.Counter({"total": body["total"]})
    found.update({row["band"]: row["votes"] for row in body["bands"]})
    return found


def demo_votes(count: int) -> list[dict[str, str]]:
    """Votes from the demo's data set (the catalogue's names), the first `count` of them."""
    votes: list[dict[str, str]] = json.loads(DEMO_VOTES.read_text(encoding="utf-8"))
    return votes[:count]


def send(front: str, votes: list[dict[str, str]]) -> None:
    with httpx.Client(timeout=10) as client:
        for vote in votes:
            response = client.post(f"{front}/grpc", json=vote)
            assert response.status_code == 202, (response.status_code, response.text)


def produced(pod: Obj) -> float:
    """votes_produced_total of one grpc-server pod, from its metrics port."""
    metrics = httpx.get(f"http://{pod['status']['podIP']}:9101/metrics", timeout=5).text
    found = re.search(r"^votes_produced_total ([0-9.e+]+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_the_services_run_the_image_built_here_as_their_manifests_say(dev: Cluster) -> None:
    node = dev.get("node", REAL_NODE, namespace="")
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == cluster_setting("KUBERNETES_VERSION"), info
    assert info["containerRuntimeVersion"].startswith("containerd://"), info
    # What cluster/image.sh built last and node.sh imported: the name overlays/dev deploys, and its ID.
    image_name = (IMAGES / "votemon.name").read_text().strip()
    image_id = (IMAGES / (image_name.replace("/", "_").replace(":", "_") + ".id")).read_text().strip()
    for name in SERVICES:
        for pod in serving(dev, name):
            (status,) = pod["status"]["containerStatuses"]
            assert status["image"] == image_name, status
            assert status["imageID"].endswith(image_id), (status["imageID"], image_id)
            inside = probe(dev, pod)
            assert (inside["uid"], inside["gid"]) == (10001, 10001), inside
            assert int(inside["cap_eff"], 16) == 0, "no capabilities"
            assert inside["no_new_privs"] == "1" and inside["seccomp"] == "2", inside
            assert (inside["root"], inside["tmp"]) == ("ro", "rw"), "read-only root, writable /tmp"
            credentials = {"REDIS_PASSWORD", "MONGO_USERNAME", "MONGO_PASSWORD"} & set(inside["env"])
            assert not credentials, f"{name}: datastore credentials are mounted files, never the environment"
            assert inside["credentials"] == CREDENTIALS[name], (name, inside["credentials"])


def test_the_node_keeps_its_imported_images_whatever_the_machines_disk(dev: Cluster) -> None:
    """Every image on the node was imported and none could be pulled again: the running kubelet never
    garbage-collects images (at 85 % of the shared disk it once removed the sandbox image, and no pod
    could start) nor evicts pods for the machine's own disk use."""
    configz = json.loads(dev.kubectl("get", "--raw", f"/api/v1/nodes/{REAL_NODE}/proxy/configz"))
    kubelet = configz["kubeletconfig"]
    assert kubelet["imageGCHighThresholdPercent"] == 100
    assert kubelet["evictionHard"] == {
        "memory.available": "100Mi",
        "nodefs.available": "1%",
        "imagefs.available": "1%",
        "nodefs.inodesFree": "1%",
    }


def votes_are_counted_once(cluster: Cluster) -> None:
    """Votes sent to the front's Service are answered 202 and counted once, read back from results'."""
    results = service_url(cluster, "results")
    votes = demo_votes(40)
    before = totals(results)
    send(service_url(cluster, "front"), votes)
    expected = collections.Counter({"total": len(votes)}) + collections.Counter(v["name"] for v in votes)

    def counted() -> None:
        now = totals(results)
        assert {k: now[k] - before[k] for k in expected} == dict(expected)

    eventually(counted, timeout=60)


def test_votes_through_the_front_pod_are_counted_once(dev: Cluster) -> None:
    for name in SERVICES:
        serving(dev, name)
    votes_are_counted_once(dev)


def test_a_replica_commit_gives_grpc_server_pods_that_take_calls(dev: Cluster, checkout: GitCheckout) -> None:
    for name in SERVICES:
        serving(dev, name)
    checkout.deliver("set-replicas", "grpc-server", "2")
    revision = checkout.commit_and_push("grpc-server: 2 replicas")
    dev.synced_at("pipeline", revision, applied=True)
    pods = serving(dev, "grpc-server", count=2)
    start = {p["metadata"]["name"]: produced(p) for p in pods}
    front, votes = service_url(dev, "front"), demo_votes(10)

    def every_pod_took_votes() -> None:
        # The front's connections live at most GRPC_MAX_CONNECTION_AGE (30 s): then it resolves the
        # headless Service again and balances over both pods.
        send(front, votes)
        took = {p["metadata"]["name"]: produced(p) - start[p["metadata"]["name"]] for p in pods}
        assert all(took.values()), took

    eventually(every_pod_took_votes, timeout=120, every=2)


def test_a_config_change_rolls_the_pods_and_they_read_it(dev: Cluster, checkout: GitCheckout) -> None:
    for name in SERVICES:
        serving(dev, name)
    config = checkout.path / "base" / "pipeline-config" / "votemon.env"
    text = config.read_text(encoding="utf-8")
    assert "LOG_LEVEL" not in text, "votemon.env leaves the log level at the code's default"
    config.write_text(text + "LOG_LEVEL=debug\n")
    revision = checkout.commit_and_push("votemon-config: debug logs")
    dev.synced_at("pipeline", revision, applied=True)

    def rolled_with_the_new_value() -> None:
        for name in SERVICES:
            for pod in serving(dev, name):
                assert probe(dev, pod)["env"]["LOG_LEVEL"] == "debug", pod["metadata"]["name"]

    eventually(rolled_with_the_new_value, timeout=180, every=2)


def new_image(cluster: Cluster, *build: str) -> str:
    """An image cluster/image.sh builds (`version V`: the Dockerfile as CI builds a new commit; `exits V`:
    one whose command exits), imported into the real node, as the name@digest a bump writes."""
    name = cluster.run(ROOT / "cluster" / "image.sh", *build).split()[-1]
    return cluster.run(ROOT / "cluster" / "node.sh", "import", name).split()[-1]


def bump_to(cluster: Cluster, checkout: GitCheckout, reference: str, message: str) -> None:
    """What the images workflow does with a new build: bump_image.py by digest, commit, push; then
    Argo CD syncs it."""
    name, digest = reference.split("@")
    checkout.deliver("bump-image", "--new-name", name, "--digest", digest)
    cluster.synced_at("pipeline", checkout.commit_and_push(message), applied=True)


def reported_version(pod: Obj) -> str:
    """The build a pod's process says it runs: its /healthz, on the ops port (metrics) or else on http."""
    ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    url = f"http://{pod['status']['podIP']}:{ports.get('metrics', ports.get('http'))}/healthz"
    version: str = httpx.get(url, timeout=5).raise_for_status().json()["version"]
    return version


def test_a_new_image_by_digest_rolls_every_service_onto_it(dev: Cluster, checkout: GitCheckout) -> None:
    for name in SERVICES:
        assert {reported_version(pod) for pod in serving(dev, name)} != {NEW_VERSION}, name
    reference = new_image(dev, "version", NEW_VERSION)
    bump_to(dev, checkout, reference, f"votemon image {NEW_VERSION}, by digest")

    def every_pod_runs_the_new_build() -> None:
        for name in SERVICES:
            for pod in serving(dev, name):
                assert reported_version(pod) == NEW_VERSION, (name, pod["metadata"]["name"])
            pods = dev.items("pods", selector=f"app.kubernetes.io/name={name}")
            images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in pods}
            assert set(images.values()) == {reference}, ("the old pods are gone", name, images)

    eventually(every_pod_runs_the_new_build, timeout=240, every=2)
    front = service_url(dev, "front")

    def the_front_reaches_the_new_servers() -> None:
        response = httpx.get(f"{front}/readyz", timeout=5)
        assert response.status_code == 200, response.text

    eventually(the_front_reaches_the_new_servers)
    votes_are_counted_once(dev)


def test_an_image_whose_command_exits_leaves_the_old_pods_serving(
    dev: Cluster, checkout: GitCheckout
) -> None:
    """A build whose command exits at once: its pods crash, the old ones keep serving, and once the
    rollout's progress deadline passes, Argo CD shows each Deployment Degraded."""
    serving_before = {name: {p["metadata"]["name"] for p in serving(dev, name)} for name in SERVICES}
    new_image(dev, "version", NEW_VERSION)
    reference = new_image(dev, "exits", NEW_VERSION)
    bump_to(dev, checkout, reference, "votemon image that exits, by digest")

    def failed_while_the_old_pods_serve() -> None:
        for name in SERVICES:
            pods = dev.items("pods", selector=f"app.kubernetes.io/name={name}")
            crashed = [
                status
                for pod in pods
                if pod["spec"]["containers"][0]["image"] == reference
                for status in pod["status"].get("containerStatuses", [])
            ]
            assert crashed, f"no pod of {name} runs the new image"
            assert all(s["restartCount"] >= 1 and not s["ready"] for s in crashed), (name, crashed)
            assert {p["metadata"]["name"] for p in pods if ready(p)} == serving_before[name], name
        health = {
            r["name"]: r.get("health", {}).get("status")
            for r in dev.application("pipeline")["status"]["resources"]
            if r["kind"] == "Deployment"
        }
        assert set(health.values()) == {"Degraded"}, health

    eventually(failed_while_the_old_pods_serve, timeout=300, every=5)
    votes_are_counted_once(dev)

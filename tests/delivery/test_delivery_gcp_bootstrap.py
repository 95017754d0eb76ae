"""scripts/gcp-bootstrap.sh: its gcloud commands build what the manifests assume (VPC, subnets,
reserved internal IPs, the votemon.internal zone, Cloud Run's account and secrets, the registry),
and `configure` rewrites every upstream placeholder of a fork in one run."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.delivery.delivery_helpers import REPO

SCRIPT = REPO / "scripts" / "gcp-bootstrap.sh"
UPSTREAM = ("https://github.com/so1-p2/votemon.git", "so1-p2-prod", "ghcr.io/so1-p2/")


def bootstrap(*args: str, root: Path = REPO, **env: str) -> str:
    proc = subprocess.run(
        [str(SCRIPT), *args],
        env={**os.environ, "ROOT": str(root), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


ADMIN_CIDRS = "203.0.113.0/24,198.51.100.7/32"


def gcp_commands() -> list[str]:
    return [line.rstrip() for line in bootstrap("gcp", DRY_RUN="1", ADMIN_CIDRS=ADMIN_CIDRS).splitlines()]


def test_gcp_commands_create_what_the_manifests_use() -> None:
    lines = gcp_commands()
    cloudrun = yaml.safe_load((REPO / "cloudrun" / "results.yaml").read_text())
    template = cloudrun["spec"]["template"]
    network = yaml.safe_load(template["metadata"]["annotations"]["run.googleapis.com/network-interfaces"])[0]
    ilb = {
        doc["metadata"]["name"]: doc["spec"]["loadBalancerIP"]
        for doc in yaml.safe_load_all((REPO / "overlays/gke/data/internal-lb.yaml").read_text())
        if doc["kind"] == "Service"
    }
    secrets = {volume["secret"]["secretName"] for volume in template["spec"]["volumes"] if "secret" in volume}
    assert secrets
    account = template["spec"]["serviceAccountName"].split("@")[0]

    def one(pattern: str) -> str:
        found = [line for line in lines if re.search(pattern, line)]
        assert len(found) == 1, (pattern, found)
        return found[0]

    one(rf"^gcloud compute networks create {network['network']} ")
    one(rf"^gcloud compute networks subnets create {network['subnetwork']} .*--network={network['network']}")
    cluster = one(r"^gcloud container clusters create ")
    assert f"--network={network['network']}" in cluster and "--subnetwork=" in cluster
    for service, address in ilb.items():
        one(rf"^gcloud compute addresses create .*--addresses={re.escape(address)}$")
        host = service.removesuffix("-internal")
        one(rf"^gcloud dns record-sets create {host}\.votemon\.internal\. .*--rrdatas={re.escape(address)}$")
    one(r"^gcloud dns managed-zones create .*--dns-name=votemon\.internal\. .*--visibility=private")
    one(rf"^gcloud iam service-accounts create {account} ")
    for secret in secrets:
        one(rf"^gcloud secrets add-iam-policy-binding {secret} .*{account}@.*secretAccessor")
    enable = one(r"^gcloud services enable ")
    for api in ("secretmanager", "iamcredentials", "run", "artifactregistry", "container", "dns"):
        assert f"{api}.googleapis.com" in enable
    one(r"^gcloud artifacts repositories create ")
    one(r"^gcloud builds submit .*-docker\.pkg\.dev/")


def test_the_cluster_answers_only_the_operators_and_its_nodes_hold_the_minimal_role() -> None:
    """Review finding 9: private nodes, an API server reachable from ADMIN_CIDRS only, Shielded nodes
    with secure boot, and a node account of its own with GKE's minimal node role (not the default
    compute account, which is the project's Editor)."""
    lines = gcp_commands()
    [cluster] = [line for line in lines if line.startswith("gcloud container clusters create ")]
    flags = set(shlex.split(cluster))  # the dry run prints each argument shell-quoted
    assert {
        "--enable-private-nodes",
        "--enable-master-authorized-networks",
        f"--master-authorized-networks={ADMIN_CIDRS}",
        "--shielded-secure-boot",
        "--shielded-integrity-monitoring",
    } <= flags, cluster
    [account] = [flag.split("=", 1)[1] for flag in flags if flag.startswith("--service-account=")]
    assert account.startswith("so1-p2-nodes@"), account
    grants = [line for line in lines if f"serviceAccount:{account}" in line]
    assert len(grants) == 1 and "--role=roles/container.defaultNodeServiceAccount" in grants[0], grants
    created = [line for line in lines if line.startswith("gcloud iam service-accounts create so1-p2-nodes ")]
    assert lines.index(created[0]) < lines.index(grants[0]) < lines.index(cluster)


def test_gcp_stops_without_the_operators_networks() -> None:
    proc = subprocess.run(
        [str(SCRIPT), "gcp"],
        env={**os.environ, "ROOT": str(REPO), "DRY_RUN": "1", "ADMIN_CIDRS": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "ADMIN_CIDRS" in proc.stderr, proc.stderr
    assert proc.stdout == "", "nothing is created"


def test_configure_rewrites_every_placeholder_of_a_fork(tmp_path: Path) -> None:
    for part in ("apps", "overlays", "cloudrun"):
        shutil.copytree(REPO / part, tmp_path / part)
    before = {p: p.read_text() for p in tmp_path.rglob("*.yaml")}
    assert sum(text.count(UPSTREAM[0]) for text in before.values()) == 1, "the repository is written once"
    bootstrap(
        "configure",
        root=tmp_path,
        PROJECT="acme-prod",
        REPO_URL="https://github.com/acme/votemon.git",
        GHCR_OWNER="acme",
        NETWORK="acme-vpc",
        CLOUDRUN_SUBNET="acme-run",
        CLOUDRUN_RANGE="10.9.0.0/26",
        REDIS_ILB_IP="10.10.0.60",
    )
    after = {p: p.read_text() for p in tmp_path.rglob("*.yaml")}
    left = {str(p.relative_to(tmp_path)): v for p, t in after.items() for v in UPSTREAM if v in t}
    assert left == {}
    everything = "\n".join(after.values())
    for value in (
        "10.9.0.0/26",
        "loadBalancerIP: 10.10.0.60",
        '"network":"acme-vpc"',
    ):
        assert value in everything, value
    assert "so1-p2-vpc" not in everything and "10.8.0.0/26" not in everything


def test_dry_run_changes_no_file(tmp_path: Path) -> None:
    shutil.copytree(REPO / "apps", tmp_path / "apps")
    for part in ("overlays", "cloudrun"):
        shutil.copytree(REPO / part, tmp_path / part)
    before = {p: p.read_text() for p in tmp_path.rglob("*.yaml")}
    out = bootstrap("configure", root=tmp_path, DRY_RUN="1", PROJECT="acme-prod")
    assert "so1-p2-prod -> acme-prod" in out
    assert {p: p.read_text() for p in tmp_path.rglob("*.yaml")} == before

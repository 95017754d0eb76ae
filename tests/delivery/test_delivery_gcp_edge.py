"""`scripts/gcp-bootstrap.sh edge` creates exactly what overlays/gke/edge names (the SSL policy, the
Cloud Armor policy, the certificate map), with the settings the docs promise, and a second run creates
nothing. No GCP is reachable here: gcloud is a recording fake that knows which resources exist (a
create of an existing one fails, as gcloud's does), so what is checked is the script's commands."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.delivery.delivery_helpers import REPO, render

SCRIPT = REPO / "scripts" / "gcp-bootstrap.sh"
VERBS = {"create", "describe", "update", "import", "add-backend", "enable", "set"}
# The flags that name the parent of a sub-resource (a rule, a map entry): part of its identity.
PARENTS = ("--map=", "--security-policy=")
FAKE_GCLOUD = f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
state_file = os.environ["FAKE_GCLOUD_STATE"]
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
verb = next((i for i, a in enumerate(args) if a in {sorted(VERBS)!r}), None)
if verb is None or args[verb] in ("enable", "set"):
    sys.exit(0)
rest = args[verb + 1:]
name = next(a for a in rest if not a.startswith("-"))
parents = sorted(a for a in rest if a.startswith({PARENTS!r})) if verb > 2 else []
key = " ".join(args[:verb] + [name] + parents)
state = json.load(open(state_file)) if os.path.exists(state_file) else []
found = key in state
if args[verb] in ("create", "import"):
    if found and args[verb] == "create":
        sys.exit(f"ERROR: {{key}} already exists")
    state.append(key) if not found else None
    json.dump(state, open(state_file, "w"))
elif not found:
    sys.exit(f"ERROR: NOT_FOUND: {{key}}")
"""


def run_edge(tmp_path: Path) -> list[list[str]]:
    """One run of `edge` against the fake; the gcloud commands it ran."""
    bin_dir = tmp_path / "bin"
    if not bin_dir.is_dir():
        bin_dir.mkdir()
        (bin_dir / "gcloud").write_text(FAKE_GCLOUD)
        (bin_dir / "gcloud").chmod(0o755)
    log = tmp_path / "gcloud.log"
    log.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_GCLOUD_STATE": str(tmp_path / "state.json"),
        "FAKE_GCLOUD_LOG": str(log),
    }
    env.pop("DRY_RUN", None)
    proc = subprocess.run([SCRIPT, "edge"], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def created(calls: list[list[str]], *group: str) -> dict[str, list[str]]:
    """name -> the flags of each `gcloud GROUP create NAME FLAGS` (or import)."""
    found = {}
    for args in calls:
        head = len(group)
        if tuple(args[:head]) == group and len(args) > head + 1 and args[head] in ("create", "import"):
            found[args[head + 1]] = args[head + 2 :]
    return found


@pytest.fixture(scope="module")
def overlay_names() -> dict[str, str]:
    """The GCP names overlays/gke/edge puts on the Gateway and in GKE's policies."""
    objs = render(REPO, "overlays/gke")
    by_kind = {o["kind"]: o for o in objs if o["kind"] in ("Gateway", "GCPGatewayPolicy", "GCPBackendPolicy")}
    return {
        "certmap": by_kind["Gateway"]["metadata"]["annotations"]["networking.gke.io/certmap"],
        "ssl": by_kind["GCPGatewayPolicy"]["spec"]["default"]["sslPolicy"],
        "armor": by_kind["GCPBackendPolicy"]["spec"]["default"]["securityPolicy"],
    }


def test_edge_creates_exactly_what_the_overlay_names(tmp_path: Path, overlay_names: dict[str, str]) -> None:
    calls = run_edge(tmp_path)
    ssl = created(calls, "compute", "ssl-policies")
    armor = created(calls, "compute", "security-policies")
    maps = created(calls, "certificate-manager", "maps")
    assert set(ssl) == {overlay_names["ssl"]}
    assert set(armor) == {overlay_names["armor"]}
    assert set(maps) == {overlay_names["certmap"]}
    assert {"--profile=MODERN", "--min-tls-version=1.2"} <= set(ssl[overlay_names["ssl"]])
    assert "--type=CLOUD_ARMOR" in armor[overlay_names["armor"]]
    entries = created(calls, "certificate-manager", "maps", "entries")
    assert len(entries) == 2 and all(f"--map={overlay_names['certmap']}" in f for f in entries.values())
    # The results service's proxy uses the same map and SSL policy, its backend the same Cloud Armor.
    (proxy,) = created(calls, "compute", "target-https-proxies").values()
    assert {f"--certificate-map={overlay_names['certmap']}", f"--ssl-policy={overlay_names['ssl']}"} <= set(
        proxy
    )
    backend_updates = [a for a in calls if a[:3] == ["compute", "backend-services", "update"]]
    assert backend_updates and all(
        f"--security-policy={overlay_names['armor']}" in a for a in backend_updates
    )


def test_edge_cloud_armor_rules_limit_per_ip_and_hide_metrics(
    tmp_path: Path, overlay_names: dict[str, str]
) -> None:
    rules = created(run_edge(tmp_path), "compute", "security-policies", "rules")
    flags = {priority: dict(f.split("=", 1) for f in found if "=" in f) for priority, found in rules.items()}
    (limit,) = [f for f in flags.values() if f.get("--action") == "rate-based-ban"]
    assert limit["--security-policy"] == overlay_names["armor"]
    assert (limit["--rate-limit-threshold-count"], limit["--rate-limit-threshold-interval-sec"]) == (
        "600",
        "60",
    )
    assert (limit["--ban-threshold-count"], limit["--ban-threshold-interval-sec"]) == ("3000", "300")
    assert (limit["--ban-duration-sec"], limit["--exceed-action"]) == ("600", "deny-429")
    assert (limit["--enforce-on-key"], limit["--src-ip-ranges"]) == ("IP", "*")
    (metrics,) = [f for f in flags.values() if "/metrics" in f.get("--expression", "")]
    assert metrics["--action"] == "deny-404"
    # Cloud Armor evaluates the lowest priority first: /metrics is refused before it is counted.
    assert int(next(p for p, f in flags.items() if f is metrics)) < int(
        next(p for p, f in flags.items() if f is limit)
    )


def test_a_second_edge_run_creates_nothing(tmp_path: Path) -> None:
    first = run_edge(tmp_path)
    second = run_edge(tmp_path)
    assert any("create" in args for args in first)
    assert [args for args in second if "create" in args or "add-backend" in args] == []


def test_results_take_requests_only_through_the_edge() -> None:
    """Cloud Run's own URL is closed to the internet; the edge's NEG points at this service."""
    service = yaml.safe_load((REPO / "cloudrun" / "results.yaml").read_text())
    assert (
        service["metadata"]["annotations"]["run.googleapis.com/ingress"]
        == "internal-and-cloud-load-balancing"
    )
    dry = subprocess.run(
        [SCRIPT, "edge"], env={**os.environ, "DRY_RUN": "1"}, capture_output=True, text=True, check=True
    ).stdout
    neg = [shlex.split(line) for line in dry.splitlines() if "network-endpoint-groups create" in line]
    assert len(neg) == 1 and f"--cloud-run-service={service['metadata']['name']}" in neg[0]

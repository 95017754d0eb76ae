"""The local cluster's real node (cluster/node.sh) is tainted so that only what runs from the image
built here lands on it: dev's four services tolerate the taint and prefer the node; nothing else in
either environment does, so the data and observability pods stay on the fake nodes."""

from __future__ import annotations

import re

from tests.gitops.gitops_support import REPO
from votemon.gitops import tree
from votemon.settings import SERVICES

SERVICE_NAMES = {service.name for service in SERVICES}


def test_only_devs_services_go_to_the_real_node() -> None:
    found = re.search(r"^taint=(\S+)$", (REPO / "cluster/node.sh").read_text(encoding="utf-8"), re.M)
    assert found, "cluster/node.sh names its taint"
    taint = found[1]
    for env in tree.ENVS:
        for obj in tree.env_objects(env):
            pod = obj.get("spec", {}).get("template", {}).get("spec")
            if not isinstance(pod, dict):
                continue
            tolerates = any(t.get("key") == taint for t in pod.get("tolerations", []))
            preferred = pod.get("affinity", {}).get("nodeAffinity", {})
            prefers = taint in str(preferred.get("preferredDuringSchedulingIgnoredDuringExecution", []))
            wanted = env == "dev" and obj["kind"] == "Deployment" and tree.base_name(obj) in SERVICE_NAMES
            assert (tolerates, prefers) == (wanted, wanted), (env, obj["kind"], tree.base_name(obj))
            assert "requiredDuringSchedulingIgnoredDuringExecution" not in preferred, "never required"

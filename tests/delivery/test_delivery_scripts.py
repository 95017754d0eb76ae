"""The bump and replica scripts, run on a temporary copy of a repository: the rendered manifests
(`kustomize build`) change exactly as intended and nothing else; the files keep their comments."""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.delivery.delivery_helpers import GITOPS, render, run

DIGEST = "sha256:" + "ab" * 32
NEW_NAME = "europe-west1-docker.pkg.dev/proj/so1-p2/votemon"
GKE = "overlays/gke"
DEPLOYMENTS = ("front", "grpc-server", "results")


def script(name: str, *args: str | Path, root: Path, check: bool = True) -> Any:
    return run(GITOPS, name, "--root", root, *args, check=check)


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in {".yaml", ".yml"}
    }


def changed_lines(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """file -> the lines removed (-) and added (+), for every file that changed."""
    out = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, ""), after.get(name, "")
        if old != new:
            diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
            out[name] = [d for d in diff if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    return out


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if isinstance(spec, dict) else {}
    if doc.get("kind") == "CronJob":
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


def repository(ref: str) -> str:
    ref = ref.split("@", 1)[0]
    return ref[: ref.rfind(":")] if ref.rfind(":") > ref.rfind("/") else ref


def votemon_repository(root: Path) -> str:
    doc = yaml.safe_load((root / GKE / "kustomization.yaml").read_text())
    for entry in doc.get("images") or []:
        if entry.get("name") == "votemon":
            return str(entry.get("newName", "votemon"))
    return "votemon"


def key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc.get("metadata", {})
    return doc.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")


# -- bump_image ---------------------------------------------------------------------------------


def test_bump_by_digest_changes_only_votemon_images(repo_copy: Path) -> None:
    old_repo = votemon_repository(repo_copy)
    before, files_before = render(repo_copy, GKE), snapshot(repo_copy)
    assert any(repository(c["image"]) == old_repo for d in before for c in containers(d)), "no votemon image"

    out = script("bump-image", "--new-name", NEW_NAME, "--digest", DIGEST, root=repo_copy).stdout
    assert f"{GKE}/kustomization.yaml" in out
    assert "overlays/dev/kustomization.yaml" in out, "dev runs the image CI built too"

    expected = copy.deepcopy(before)
    for doc in expected:
        for c in containers(doc):
            if repository(c["image"]) == old_repo:
                c["image"] = f"{NEW_NAME}@{DIGEST}"
    after = render(repo_copy, GKE)
    assert after == expected, "the render changed somewhere else than the votemon images"
    assert after != before

    diff = changed_lines(files_before, snapshot(repo_copy))
    for name, lines in diff.items():
        assert name in {f"{GKE}/kustomization.yaml", "overlays/dev/kustomization.yaml"} or name.startswith(
            "cloudrun/"
        ), name
        for line in lines:
            # kustomize sorts an images: entry's keys: `digest` comes before `name`, which moves the
            # entry's `- ` from one line to the other when a tag becomes a digest.
            assert re.match(r"^[+-]\s*(-\s+)?(name: votemon$|newName:|newTag:|digest:|image:)", line), (
                name,
                line,
            )
    kustomization = (repo_copy / GKE / "kustomization.yaml").read_text()
    comments = [
        ln for ln in files_before[f"{GKE}/kustomization.yaml"].splitlines() if ln.lstrip().startswith("#")
    ]
    assert all(c in kustomization for c in comments), "comments were lost"

    # Cloud Run service files: only the votemon image of each container changed.
    for name, text in files_before.items():
        if not name.startswith("cloudrun/"):
            continue
        old = list(yaml.safe_load_all(text))
        new = list(yaml.safe_load_all((repo_copy / name).read_text()))
        for doc in old:
            for c in doc["spec"]["template"]["spec"]["containers"]:
                if repository(c["image"]).rsplit("/", 1)[-1] == "votemon":
                    c["image"] = f"{NEW_NAME}@{DIGEST}"
        assert new == old, name

    # Idempotent: a second run changes nothing.
    files_after = snapshot(repo_copy)
    script("bump-image", "--new-name", NEW_NAME, "--digest", DIGEST, root=repo_copy)
    assert snapshot(repo_copy) == files_after


def test_bump_by_tag_then_back_to_digest(repo_copy: Path) -> None:
    script("bump-image", "--new-name", "ghcr.io/o/votemon", "--tag", "1.0", root=repo_copy)
    images = {c["image"] for d in render(repo_copy, GKE) for c in containers(d)}
    assert "ghcr.io/o/votemon:1.0" in images
    entry = next(e for e in yaml.safe_load((repo_copy / GKE / "kustomization.yaml").read_text())["images"])
    assert entry.get("newTag") == "1.0" and "digest" not in entry  # a string, not the float 1.0
    script("bump-image", "--new-name", NEW_NAME, "--digest", DIGEST, root=repo_copy)
    entry = next(e for e in yaml.safe_load((repo_copy / GKE / "kustomization.yaml").read_text())["images"])
    assert entry == {**{k: v for k, v in entry.items() if k == "name"}, "newName": NEW_NAME, "digest": DIGEST}


@pytest.mark.parametrize(
    "args",
    [
        ["--new-name", NEW_NAME, "--digest", "sha256:short"],
        ["--new-name", "Bad Name", "--digest", DIGEST],
        ["--new-name", NEW_NAME, "--tag", "no/slash"],
        ["--new-name", NEW_NAME],
    ],
)
def test_bump_refuses_bad_arguments(repo_copy: Path, args: list[str]) -> None:
    before = snapshot(repo_copy)
    assert script("bump-image", *args, root=repo_copy, check=False).returncode != 0
    assert snapshot(repo_copy) == before


# -- set_replicas --------------------------------------------------------------------------------


@pytest.mark.parametrize("component", DEPLOYMENTS)
def test_replicas_of_a_deployment(repo_copy: Path, component: str) -> None:
    before, files_before = render(repo_copy, GKE), snapshot(repo_copy)
    current = next(d for d in before if key(d)[0] == "Deployment" and key(d)[2] == component)
    count = int(current["spec"].get("replicas", 1)) + 3

    script("set-replicas", component, str(count), root=repo_copy)

    expected = copy.deepcopy(before)
    next(d for d in expected if key(d)[0] == "Deployment" and key(d)[2] == component)["spec"]["replicas"] = (
        count
    )
    assert render(repo_copy, GKE) == expected
    diff = changed_lines(files_before, snapshot(repo_copy))
    assert list(diff) == [f"{GKE}/kustomization.yaml"]
    assert all(re.match(r"^[+-]\s*(-\s+)?(count|name):", line) for line in diff[f"{GKE}/kustomization.yaml"])


def autoscaler(docs: list[dict[str, Any]], name: str = "consumer") -> dict[str, Any]:
    found = [
        d for d in docs if key(d)[0] in {"ScaledObject", "HorizontalPodAutoscaler"} and key(d)[2] == name
    ]
    assert len(found) == 1, f"expected one autoscaler for {name}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("with_max", [False, True])
def test_replicas_of_the_consumer_change_its_autoscaler_bounds(repo_copy: Path, with_max: bool) -> None:
    before, files_before = render(repo_copy, GKE), snapshot(repo_copy)
    scaler = autoscaler(before)
    low_key, high_key = (
        ("minReplicaCount", "maxReplicaCount")
        if scaler["kind"] == "ScaledObject"
        else ("minReplicas", "maxReplicas")
    )
    old_high = int(scaler["spec"].get(high_key, 100))
    low = old_high + 2 if not with_max else 2
    high = max(low, old_high) if not with_max else old_high + 5

    script("set-replicas", "consumer", str(low), *(["--max", str(high)] if with_max else []), root=repo_copy)

    expected = copy.deepcopy(before)
    autoscaler(expected)["spec"].update({low_key: low, high_key: high})
    assert render(repo_copy, GKE) == expected
    for lines in changed_lines(files_before, snapshot(repo_copy)).values():
        assert all(re.match(rf"^[+-]\s*({low_key}|{high_key}):", line) for line in lines), lines


def test_dev_overlay_hpa(repo_copy: Path) -> None:
    if not (repo_copy / "overlays/dev/kustomization.yaml").is_file():
        pytest.fail("overlays/dev is missing")
    before = render(repo_copy, "overlays/dev")
    script("set-replicas", "--overlay", "overlays/dev", "consumer", "2", "--max", "7", root=repo_copy)
    expected = copy.deepcopy(before)
    spec = autoscaler(expected)["spec"]
    spec.update(
        {"minReplicaCount": 2, "maxReplicaCount": 7}
        if autoscaler(expected)["kind"] == "ScaledObject"
        else {"minReplicas": 2, "maxReplicas": 7}
    )
    assert render(repo_copy, "overlays/dev") == expected


@pytest.mark.parametrize(
    "args",
    [
        ["front", "2", "--max", "5"],  # --max is for the autoscaled consumer only
        ["consumer", "5", "--max", "3"],  # max below min
        ["consumer", "-1"],
        ["nosuch", "2"],
    ],
)
def test_set_replicas_refuses_bad_requests(repo_copy: Path, args: list[str]) -> None:
    before = snapshot(repo_copy)
    assert script("set-replicas", *args, root=repo_copy, check=False).returncode != 0
    assert snapshot(repo_copy) == before


def test_set_replicas_twice_is_a_no_op(repo_copy: Path) -> None:
    script("set-replicas", "front", "4", root=repo_copy)
    once = snapshot(repo_copy)
    script("set-replicas", "front", "4", root=repo_copy)
    assert snapshot(repo_copy) == once

"""A one-line change in overlays/gke/kustomization.yaml changes exactly what it names in the
rendered output (on a temporary copy of the tree)."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest

from tests.gitops.gitops_support import REPO, by_key
from votemon.gitops.tree import SERVICES, Obj, render, render_uncached

GKE = Path("overlays/gke")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for part in ("base", "overlays"):
        shutil.copytree(REPO / part, tmp_path / part)
    return tmp_path


def edit_one_line(file: Path, pattern: str, replace: str) -> None:
    text = file.read_text()
    new, count = re.subn(pattern, replace, text, count=1, flags=re.MULTILINE)
    assert count == 1, pattern
    changed = [(a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b]
    assert len(changed) == 1, changed
    file.write_text(new)


def changed_objects(tree: Path) -> dict[tuple[str, str], tuple[Obj, Obj]]:
    before = by_key(render(REPO / GKE))
    after = by_key(render_uncached(tree / GKE))
    assert before.keys() == after.keys()
    return {key: (before[key], after[key]) for key in before if before[key] != after[key]}


@pytest.mark.parametrize("deployment", ["front", "grpc-server", "results"])
def test_replica_change_changes_exactly_that_deployment(tree: Path, deployment: str) -> None:
    current = by_key(render(REPO / GKE))[("Deployment", deployment)]["spec"]["replicas"]
    edit_one_line(
        tree / GKE / "kustomization.yaml",
        rf"^(- count: ){current}(\n  name: {deployment})$",
        rf"\g<1>{current + 3}\g<2>",
    )
    changed = changed_objects(tree)
    assert list(changed) == [("Deployment", deployment)]
    old, new = (copy.deepcopy(o) for o in changed[("Deployment", deployment)])
    assert new["spec"].pop("replicas") == current + 3
    old["spec"].pop("replicas")
    assert old == new


def test_image_bump_changes_only_the_votemon_images(tree: Path) -> None:
    edit_one_line(tree / GKE / "kustomization.yaml", r"^(  newTag: ).*$", r"\g<1>9.9.9")
    changed = changed_objects(tree)
    assert set(changed) == {("Deployment", n) for n in SERVICES}
    for pair in changed.values():
        old, new = copy.deepcopy(pair)
        image = new["spec"]["template"]["spec"]["containers"][0].pop("image")
        assert image == "ghcr.io/so1-p2/votemon:9.9.9"
        old["spec"]["template"]["spec"]["containers"][0].pop("image")
        assert old == new

"""`scripts/gitops diff` (votemon.gitops.diff) on two commits of a copy of the repository: a replica change
shows as exactly that line in exactly one Application, an unrelated change as no rendered diff."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.delivery.delivery_helpers import REPO

GITOPS = REPO / "scripts" / "gitops"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for part in ("base", "overlays", "apps", "cloudrun"):
        shutil.copytree(REPO / part, tmp_path / part)
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    commit(tmp_path, "init", "-q")
    return tmp_path


def commit(repo: Path, message: str, *init: str) -> str:
    env = {**os.environ, **GIT_ENV}
    if init:
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", message], check=True, env=env)
    return revision(repo)


def revision(repo: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def rendered_diff(repo: Path, base: str, head: str) -> str:
    proc = subprocess.run(
        [str(GITOPS), "diff", "--repo", str(repo), "--base", base, "--head", head],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def test_a_replica_change_is_one_line_in_one_application(repo: Path) -> None:
    base = revision(repo)
    kustomization = repo / "overlays" / "gke" / "kustomization.yaml"
    text, count = re.subn(r"(- count: )3(\n  name: grpc-server\n)", r"\g<1>5\g<2>", kustomization.read_text())
    assert count == 1
    kustomization.write_text(text)
    head = commit(repo, "replicas: grpc-server -> 5")
    report = rendered_diff(repo, base, head)
    assert re.findall(r"^### (.+)$", report, re.MULTILINE) == ["gke/pipeline"], report
    changed = [line for line in report.splitlines() if re.match(r"^[-+](?![-+]{2} )", line)]
    assert changed == ["-  replicas: 3", "+  replicas: 5"], report
    assert (
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True, check=True
        ).stdout.count("\n")
        == 1
    )


def test_an_unrelated_change_has_no_rendered_diff(repo: Path) -> None:
    base = revision(repo)
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA note.\n")
    head = commit(repo, "README only")
    report = rendered_diff(repo, base, head)
    assert "No rendered change" in report and "### " not in report, report


def test_the_working_tree_is_the_default_head(repo: Path) -> None:
    base = revision(repo)
    secrets = repo / "overlays" / "gke" / "data" / "secrets.yaml"
    secrets.write_text(secrets.read_text().replace("so1-p2-prod", "acme-prod"))
    proc = subprocess.run(
        [str(GITOPS), "diff", "--repo", str(repo), "--base", base],
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.findall(r"^### (.+)$", proc.stdout, re.MULTILINE) == ["gke/data"], proc.stdout

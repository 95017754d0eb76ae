"""Shared helpers of the delivery tests: the repository, its tools, rendering overlays.

(A plain module, not conftest.py: the tests import it; conftest.py only holds fixtures and hooks.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from votemon.gitops.kustomize import kustomize

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixture"
SCRIPTS = REPO / "scripts" / "delivery"
# The launcher of the GitOps commands (set-replicas, bump-image, diff...): the checkout's .venv.
GITOPS = REPO / "scripts" / "gitops"
WORKFLOWS = REPO / ".github" / "workflows"
# Left out of a repository copy: what no overlay or delivery script reads, and the heavy parts.
SKIP_AT_ROOT = {".git", ".venv", ".local", "stack", "src", "proto", "tests", "loadtest", "results"}
SKIP_ANYWHERE = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules"}


def tool(relative: str) -> Path:
    """A tool the checks need, at its project path: missing is a failure, never a skip."""
    path = REPO / relative
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{relative} is missing: run `make install`", pytrace=False)
    return path


def run(
    *args: str | Path, cwd: Path = REPO, check: bool = True, **kw: Any
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False, **kw)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}", pytrace=False
        )
    return proc


def render(root: Path, overlay: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(kustomize("build", root / overlay)) if doc]


def copy_repo(source: Path, dest: Path) -> Path:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skip = SKIP_ANYWHERE | (SKIP_AT_ROOT if Path(directory) == source else set())
        return {name for name in names if name in skip}

    shutil.copytree(source, dest, ignore=ignore, symlinks=True)
    return dest


def real_overlay_ready() -> bool:
    return (REPO / "overlays" / "gke" / "kustomization.yaml").is_file()

"""Fixtures of the delivery tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.delivery.delivery_helpers import FIXTURE, REPO, copy_repo, real_overlay_ready


@pytest.fixture(params=["fixture", "repo"])
def repo_copy(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A temporary copy of a repository to edit: the test fixture, then the real repository."""
    if request.param == "fixture":
        return copy_repo(FIXTURE, tmp_path / "repo")
    if not real_overlay_ready():
        pytest.fail("overlays/gke/kustomization.yaml is missing from the repository", pytrace=False)
    return copy_repo(REPO, tmp_path / "repo")

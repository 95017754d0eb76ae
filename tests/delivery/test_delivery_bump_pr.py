"""scripts/delivery/bump_pull_request.sh: the bump reaches main only through a pull request.

A local bare repository plays GitHub's git; `gh` is a recorder on the PATH (GitHub's API is not
reachable here), so the test proves what is pushed where and which pull request calls are made."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tests.delivery.delivery_helpers import FIXTURE, SCRIPTS, copy_repo, run

DIGEST = "sha256:" + "cd" * 32
NEW_NAME = "ghcr.io/o/votemon"
BRANCH = "deploy/votemon"


def environment(tmp_path: Path, open_pr: bool) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    state = "OPEN" if open_pr else ""
    gh.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >>"{tmp_path}/gh.log"\n'
        f'if [[ "$1 $2" == "pr view" ]]; then echo "{state}"; fi\n'
    )
    gh.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }


def setup(tmp_path: Path, env: dict[str, str]) -> tuple[Path, Path]:
    origin = tmp_path / "origin.git"
    run("git", "init", "--quiet", "--bare", "--initial-branch=main", origin, cwd=tmp_path, env=env)
    seed = copy_repo(FIXTURE, tmp_path / "seed")
    for args in (
        ["init", "--quiet", "--initial-branch=main"],
        ["add", "."],
        ["commit", "--quiet", "-m", "seed"],
    ):
        run("git", *args, cwd=seed, env=env)
    run("git", "push", "--quiet", str(origin), "main", cwd=seed, env=env)
    ours = tmp_path / "ours"
    run("git", "clone", "--quiet", origin, ours, cwd=tmp_path, env=env)
    return origin, ours


def git(origin: Path, *args: str) -> str:
    return run("git", "--git-dir", origin, *args, cwd=origin).stdout.strip()


def test_the_bump_is_a_pull_request_that_merges_itself(tmp_path: Path) -> None:
    env = environment(tmp_path, open_pr=False)
    origin, ours = setup(tmp_path, env)
    main_before = git(origin, "rev-parse", "main")
    run(SCRIPTS / "bump_pull_request.sh", NEW_NAME, DIGEST, cwd=ours, env=env)
    assert git(origin, "rev-parse", "main") == main_before, "main is never pushed to"
    assert git(origin, "rev-parse", f"{BRANCH}^") == main_before
    kustomization = yaml.safe_load(git(origin, "show", f"{BRANCH}:overlays/gke/kustomization.yaml"))
    votemon = next(e for e in kustomization["images"] if e["name"] == "votemon")
    assert votemon == {"name": "votemon", "newName": NEW_NAME, "digest": DIGEST}
    calls = (tmp_path / "gh.log").read_text().splitlines()
    assert calls[0].startswith(f"pr view {BRANCH}")
    assert calls[1].startswith(f"pr create --base main --head {BRANCH} ")
    assert calls[2] == f"pr merge {BRANCH} --auto --squash"


def test_a_newer_bump_replaces_the_open_one_and_a_current_digest_is_a_no_op(tmp_path: Path) -> None:
    env = environment(tmp_path, open_pr=True)
    origin, ours = setup(tmp_path, env)
    run(SCRIPTS / "bump_pull_request.sh", NEW_NAME, "sha256:" + "ab" * 32, cwd=ours, env=env)
    run(SCRIPTS / "bump_pull_request.sh", NEW_NAME, DIGEST, cwd=ours, env=env)
    assert git(origin, "rev-list", "--count", f"main..{BRANCH}") == "1", "rebuilt from main, not stacked"
    assert DIGEST in git(origin, "show", f"{BRANCH}:overlays/gke/kustomization.yaml")
    calls = (tmp_path / "gh.log").read_text().splitlines()
    assert not any(c.startswith("pr create") for c in calls), "the open pull request is reused"
    run("git", "-C", ours, "switch", "--quiet", "main", cwd=ours, env=env)
    run("git", "-C", ours, "merge", "--quiet", "--ff-only", f"origin/{BRANCH}", cwd=ours, env=env)
    run("git", "-C", ours, "push", "--quiet", "origin", "main", cwd=ours, env=env)
    proc = run(SCRIPTS / "bump_pull_request.sh", NEW_NAME, DIGEST, cwd=ours, env=env)
    assert "already runs" in proc.stdout

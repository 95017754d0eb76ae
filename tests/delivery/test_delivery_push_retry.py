"""scripts/delivery/push_with_retry.sh: two merges racing lose no bump.

A local bare repository plays GitHub. The edit command pushes a competing commit from another
clone the first time it runs (another merge landing between our fetch and our push), touching the
very lines the bump edits, so a plain push is refused and a naive rebase would conflict."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tests.delivery.delivery_helpers import FIXTURE, GITOPS, SCRIPTS, copy_repo, run

DIGEST = "sha256:" + "cd" * 32
NEW_NAME = "ghcr.io/o/votemon"
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "PUSH_ATTEMPTS": "3",
}


def git(cwd: Path, *args: str) -> str:
    return run("git", *args, cwd=cwd, env=ENV).stdout.strip()


def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    origin = tmp_path / "origin.git"
    run("git", "init", "--quiet", "--bare", "--initial-branch=main", origin, cwd=tmp_path, env=ENV)
    seed = copy_repo(FIXTURE, tmp_path / "seed")
    git(seed, "init", "--quiet", "--initial-branch=main")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "seed")
    git(seed, "push", "--quiet", str(origin), "main")
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for clone in (ours, theirs):
        run("git", "clone", "--quiet", origin, clone, cwd=tmp_path, env=ENV)
    return origin, ours, theirs


def test_a_refused_push_is_replayed_on_the_new_tip(tmp_path: Path) -> None:
    _origin, ours, theirs = setup(tmp_path)
    marker = tmp_path / "raced"
    edit = tmp_path / "edit.sh"
    edit.write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\n"
        f'if [[ ! -e "{marker}" ]]; then\n'
        f'  touch "{marker}"\n'
        f'  cd "{theirs}"\n'
        "  sed -i 's/newTag: bootstrap/newTag: someone-else/; s/count: 2/count: 7/' \\\n"
        "    overlays/gke/kustomization.yaml\n"
        "  git commit --quiet -am 'a competing merge' && git push --quiet origin main\n"
        "  cd - >/dev/null\n"
        "fi\n"
        f'exec "{GITOPS}" bump-image --root . \\\n'
        f"  --new-name {NEW_NAME} --digest {DIGEST}\n"
    )
    edit.chmod(0o755)
    proc = run(SCRIPTS / "push_with_retry.sh", "-b", "main", "-m", "deploy", "--", edit, cwd=ours, env=ENV)
    assert "attempt 2" in proc.stdout, proc.stdout + proc.stderr

    git(theirs, "pull", "--quiet", "--ff-only")
    assert git(theirs, "log", "--format=%s", "-3").splitlines() == ["deploy", "a competing merge", "seed"]
    kustomization = yaml.safe_load((theirs / "overlays/gke/kustomization.yaml").read_text())
    votemon = next(e for e in kustomization["images"] if e["name"] == "votemon")
    assert votemon == {"name": "votemon", "newName": NEW_NAME, "digest": DIGEST}  # our bump wins
    assert {r["name"]: r["count"] for r in kustomization["replicas"]}["front"] == 7  # theirs is kept


def test_nothing_to_push_and_dirty_tree(tmp_path: Path) -> None:
    _origin, ours, _theirs = setup(tmp_path)
    proc = run(SCRIPTS / "push_with_retry.sh", "-b", "main", "-m", "noop", "--", "true", cwd=ours, env=ENV)
    assert "nothing to commit" in proc.stdout
    (ours / "overlays/gke/kustomization.yaml").write_text("local: edit\n")
    dirty = run(SCRIPTS / "push_with_retry.sh", "-m", "x", "--", "true", cwd=ours, env=ENV, check=False)
    assert dirty.returncode == 2 and "uncommitted" in dirty.stderr
    assert (ours / "overlays/gke/kustomization.yaml").read_text() == "local: edit\n"  # not reset

"""`make cluster` serves the checkout's HEAD on the local git server (cluster/up.sh push) and never
discards what an operator pushed there: commits the checkout lacks are kept as a branch kept/<sha>.
Runs on scratch clones; no cluster needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from votemon.dev.processes import ROOT


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(
        repo,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        message,
    )
    return git(repo, "rev-parse", "HEAD")


def test_make_cluster_keeps_commits_pushed_to_the_local_git_server(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"  # a repository of its own: the test also runs in shallow clones
    shutil.copytree(ROOT / "cluster", checkout / "cluster")
    (checkout / "stack" / "ferretdb").mkdir(parents=True)
    shutil.copy(ROOT / "stack" / "lib.sh", checkout / "stack" / "lib.sh")
    shutil.copy(
        ROOT / "stack" / "ferretdb" / "go.mod", checkout / "stack" / "ferretdb" / "go.mod"
    )  # versions.env
    git(tmp_path, "init", "-q", "--initial-branch=main", str(checkout))
    git(checkout, "add", "cluster", "stack")
    commit(checkout, "the scripts of make cluster")
    server = checkout / ".local" / "cluster" / "git" / "votemon.git"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(server))

    def serve() -> str:
        done = subprocess.run(
            [checkout / "cluster" / "up.sh", "push"], capture_output=True, text=True, check=True
        )
        return done.stdout

    serve()
    assert git(server, "rev-parse", "main") == git(checkout, "rev-parse", "HEAD")

    operator = tmp_path / "operator"
    git(tmp_path, "clone", "-q", str(server), str(operator))
    pushed = commit(operator, "a pull request's change, pushed to the local server")
    git(operator, "push", "-q", "origin", "HEAD:main")
    ours = commit(checkout, "a commit of the checkout")

    said = serve()
    kept = f"kept/{pushed[:12]}"
    assert kept in said and "git pull" in said
    assert git(server, "rev-parse", kept) == pushed
    assert git(server, "rev-parse", "main") == ours

    following = commit(checkout, "a fast-forward: nothing to keep")
    assert "kept/" not in serve()
    assert git(server, "rev-parse", "main") == following
    assert git(server, "for-each-ref", "--format=%(refname:short)", "refs/heads/kept") == kept

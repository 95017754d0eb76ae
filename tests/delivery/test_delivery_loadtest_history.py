"""scripts/delivery/loadtest_history.sh: the loadtest workflow's history branch. A local bare
repository plays GitHub: the first run creates the orphan loadtest-history branch, each run appends
its record once (also when run again with the same record), and main is left as it was."""

from __future__ import annotations

import json
from pathlib import Path

from tests.delivery.delivery_helpers import REPO, SCRIPTS, copy_repo, run
from tests.delivery.test_delivery_push_retry import ENV, git


def clone_with_origin(tmp_path: Path) -> tuple[Path, Path]:
    """A bare origin holding main, and a clone of it that has the scripts and the loadtest package."""
    origin = tmp_path / "origin.git"
    run("git", "init", "--quiet", "--bare", "--initial-branch=main", origin, cwd=tmp_path, env=ENV)
    seed = tmp_path / "seed"
    seed.mkdir()
    for part in ("scripts", "loadtest", "bench"):
        copy_repo(REPO / part, seed / part)
    git(seed, "init", "--quiet", "--initial-branch=main")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "seed")
    git(seed, "push", "--quiet", str(origin), "main")
    ours = tmp_path / "ours"
    run("git", "clone", "--quiet", origin, ours, cwd=tmp_path, env=ENV)
    return origin, ours


def record(tmp_path: Path, run_id: str) -> Path:
    path = tmp_path / f"{run_id}.json"
    path.write_text(json.dumps({"id": run_id, "settings": {"users": 1}, "figures": {"p95_ms": 9.0}}))
    return path


def test_each_run_is_appended_once_to_an_orphan_history_branch(tmp_path: Path) -> None:
    origin, ours = clone_with_origin(tmp_path)
    main_before = git(origin, "rev-parse", "main")
    script = SCRIPTS / "loadtest_history.sh"
    first, second = record(tmp_path, "run-1"), record(tmp_path, "run-2")
    run(script, first, cwd=ours, env=ENV)
    run(script, second, cwd=ours, env=ENV)
    replay = run(script, second, cwd=ours, env=ENV)  # e.g. a re-run job: nothing new to push
    assert "nothing to commit" in replay.stdout, replay.stdout + replay.stderr

    lines = git(origin, "show", "loadtest-history:history.jsonl").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["run-1", "run-2"]
    assert git(origin, "ls-tree", "--name-only", "loadtest-history").splitlines() == ["history.jsonl"]
    assert git(origin, "rev-list", "--max-parents=0", "loadtest-history") != git(
        origin, "rev-list", "--max-parents=0", "main"
    ), "the history branch shares no commit with main"
    assert git(origin, "rev-parse", "main") == main_before
    assert git(ours, "worktree", "list").count("\n") == 0, "the temporary worktree is removed"
    assert git(ours, "status", "--porcelain") == ""

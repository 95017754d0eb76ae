#!/usr/bin/env bash
# Append one load test run's record to history.jsonl on the loadtest-history branch of origin.
#   scripts/delivery/loadtest_history.sh RECORD.json
# Run from a clone of this repository (the loadtest workflow's checkout). The branch holds only the
# history (an orphan branch, created with an empty history.jsonl the first time), so a person reads
# the runs with `git show origin/loadtest-history:history.jsonl` and no service outside GitHub keeps
# them. The append goes through scripts/delivery/push_with_retry.sh in a worktree of its own (it
# resets its working tree to the branch's tip on each attempt); the append skips a record already
# there, so a replayed attempt never writes a run twice.
set -euo pipefail
branch=${HISTORY_BRANCH:-loadtest-history}
[[ $# -eq 1 && -f $1 ]] || { echo "usage: $0 RECORD.json" >&2; exit 2; }
record=$(realpath "$1")
repo=$(git rev-parse --show-toplevel)
if ! git ls-remote --exit-code --heads origin "$branch" >/dev/null; then
  blob=$(git hash-object -w --stdin </dev/null)
  tree=$(printf '100644 blob %s\thistory.jsonl\n' "$blob" | git mktree)
  root=$(git commit-tree "$tree" -m "$branch: the load test's runs, one JSON record a line (python -m loadtest)")
  # a run that created it at the same moment wins; ours then appends to theirs
  git push --quiet origin "$root:refs/heads/$branch" || git ls-remote --exit-code --heads origin "$branch"
fi
worktree=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$worktree"' EXIT
git worktree add --quiet --detach "$worktree" HEAD
id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$record")
cd "$worktree"
PYTHONPATH=$repo "$repo/scripts/delivery/push_with_retry.sh" -b "$branch" -m "loadtest: run $id" -- \
  python3 -m loadtest.history append history.jsonl "$record"

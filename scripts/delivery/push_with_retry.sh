#!/usr/bin/env bash
# Commit an edit made by a command and push it to a branch, retrying when the branch moved.
#   scripts/delivery/push_with_retry.sh -b main -m "message" -- CMD [ARG...]
# Each attempt starts from the branch's current tip (fetch + hard reset), runs CMD (which must be
# idempotent, e.g. scripts/gitops bump-image), commits what it changed and pushes. A push
# refused because another push landed first (two merges racing) is retried on the new tip: the
# edit is replayed, the same result as rebasing the commit, without conflicts. Meant for CI: it
# refuses to run with uncommitted changes, since it resets the working tree. In GitHub Actions the
# pushed commit is written to $GITHUB_OUTPUT as sha=<commit>.
set -euo pipefail
branch=main message="" attempts=${PUSH_ATTEMPTS:-5}
while getopts "b:m:n:" opt; do
  case $opt in
    b) branch=$OPTARG ;;
    m) message=$OPTARG ;;
    n) attempts=$OPTARG ;;
    *) echo "usage: $0 -b BRANCH -m MESSAGE -- CMD [ARG...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ ${1:-} == -- ]] && shift
[[ -n $message && $# -gt 0 ]] || { echo "usage: $0 -b BRANCH -m MESSAGE -- CMD [ARG...]" >&2; exit 2; }
if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
  echo "push_with_retry: uncommitted changes; refusing to reset the working tree" >&2
  exit 2
fi
for ((attempt = 1; attempt <= attempts; attempt++)); do
  git fetch --quiet origin "$branch"
  git reset --quiet --hard FETCH_HEAD
  "$@"
  if [[ -z $(git status --porcelain --untracked-files=no) ]]; then
    echo "push_with_retry: nothing to commit, $branch is already up to date"
    [[ -z ${GITHUB_OUTPUT:-} ]] || echo "sha=$(git rev-parse HEAD)" >>"$GITHUB_OUTPUT"
    exit 0
  fi
  git commit --quiet --all --message "$message"
  if git push --quiet origin "HEAD:refs/heads/$branch"; then
    echo "push_with_retry: pushed $(git rev-parse --short HEAD) to $branch (attempt $attempt)"
    [[ -z ${GITHUB_OUTPUT:-} ]] || echo "sha=$(git rev-parse HEAD)" >>"$GITHUB_OUTPUT"
    exit 0
  fi
  echo "push_with_retry: push refused (attempt $attempt/$attempts), replaying on the new tip" >&2
  sleep $((attempt * 3))
done
echo "push_with_retry: gave up after $attempts attempts" >&2
exit 1

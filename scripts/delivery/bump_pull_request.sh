#!/usr/bin/env bash
# Pin the deployed image to a new digest through a pull request that merges itself once its checks
# pass: main's ruleset admits no direct push, the bot's included (docs/security.md).
#   GH_TOKEN=<the bump App's token> scripts/delivery/bump_pull_request.sh REPOSITORY DIGEST
# Runs in the current git checkout (origin = GitHub). The branch deploy/votemon is rebuilt from
# main's tip each time and force-pushed, so a newer bump replaces one still open; the images
# workflow runs one at a time, so the last build's digest is the one that merges.
set -euo pipefail
usage="usage: $0 REPOSITORY DIGEST"
repository=${1:?$usage} digest=${2:?$usage}
base=main branch=deploy/votemon
gitops=$(cd "$(dirname "$0")/.." && pwd)/gitops
if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
  echo "bump_pull_request: uncommitted changes; refusing to reset the working tree" >&2
  exit 2
fi
git fetch --quiet origin "$base"
git switch --quiet --force-create "$branch" FETCH_HEAD
"$gitops" bump-image --root . --new-name "$repository" --digest "$digest"
if git diff --quiet; then
  echo "bump_pull_request: $base already runs $digest"
  exit 0
fi
title="deploy: votemon $digest"
git commit --quiet --all -m "$title" -m "Built from ${GITHUB_SHA:-$(git rev-parse HEAD)} by the images workflow."
git push --quiet --force origin "HEAD:refs/heads/$branch"
if [[ $(gh pr view "$branch" --json state --jq .state 2>/dev/null) != OPEN ]]; then
  gh pr create --base "$base" --head "$branch" --title "$title" \
    --body "The images workflow's bump: merges itself once its checks pass (auto-merge)."
fi
gh pr merge "$branch" --auto --squash
echo "bump_pull_request: $branch -> $base, auto-merge on"

#!/usr/bin/env bash
# Applies the repository's GitHub settings that live in git (docs/security.md), with the gh CLI
# logged in as a repository admin:
# - .github/rulesets/*.json: main's rulesets (no deletion or force-push, signed linear history, the
#   ci check; every change through a reviewed pull request, code owners' for the paths of
#   .github/CODEOWNERS). The only bypass is the bump App's, and only through a pull request;
# - .github/environments/production.json: the environment of every deploy (the bump, Cloud Run),
#   its reviewers the platform team, deployable from main only.
#   GITHUB_REPO=owner/repo BUMP_APP_ID=<app id> REVIEWERS_TEAM=<team slug> scripts/github-settings.sh
#   DRY_RUN=1 …   print the API calls and bodies instead
# Idempotent: a ruleset of the same name is updated, not duplicated.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
: "${GITHUB_REPO:?set GITHUB_REPO=owner/repo}" "${BUMP_APP_ID:?set BUMP_APP_ID}" "${REVIEWERS_TEAM:?set REVIEWERS_TEAM}"
DRY_RUN=${DRY_RUN:-0}
api() {
  if [[ $DRY_RUN == 1 ]]; then
    printf 'gh api %s\n' "$*"
    [[ -z ${body:-} ]] || printf '%s\n' "$body"
  else
    gh api "$@" ${body:+--input -} <<<"${body:-}"
  fi
}
if [[ $DRY_RUN == 1 ]]; then team_id=0; else
  team_id=$(gh api "orgs/${GITHUB_REPO%%/*}/teams/$REVIEWERS_TEAM" --jq .id)
fi
for file in "$root"/.github/rulesets/*.json; do
  body=$(jq -c --argjson app "$BUMP_APP_ID" \
    '.bypass_actors |= map(if .actor_type == "Integration" then .actor_id = $app else . end)' "$file")
  name=$(jq -r .name "$file")
  existing=""
  [[ $DRY_RUN == 1 ]] || existing=$(gh api "repos/$GITHUB_REPO/rulesets" --jq ".[] | select(.name == \"$name\") | .id")
  if [[ -n $existing ]]; then
    api --method PUT "repos/$GITHUB_REPO/rulesets/$existing"
  else
    api --method POST "repos/$GITHUB_REPO/rulesets"
  fi
done
body=$(jq -c --argjson team "$team_id" '.reviewers |= map(.id = $team)' "$root/.github/environments/production.json")
api --method PUT "repos/$GITHUB_REPO/environments/production"
body='{"name":"main","type":"branch"}'
if [[ $DRY_RUN == 1 ]] || ! gh api "repos/$GITHUB_REPO/environments/production/deployment-branch-policies" \
  --jq '.branch_policies[].name' | grep -qx main; then
  api --method POST "repos/$GITHUB_REPO/environments/production/deployment-branch-policies"
fi

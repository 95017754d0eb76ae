#!/usr/bin/env bash
# Bootstraps Argo CD onto this repository with the argocd CLI, as an operator does (README, GitOps):
# the trust root (the AppProjects, apps/projects, and Argo CD's RBAC, apps/argocd: applied here, never
# synced from git), then the root app-of-apps; everything else follows from git. On a real gke
# cluster its last step turns on Google sign-in and disables the shared admin account
# (docs/security.md); the local cluster (--without-operators) keeps its admin.
#   scripts/argocd-bootstrap.sh dev|gke [--without-operators]
# Needs the argocd CLI logged in (argocd login) and kubectl pointing at the same cluster.
#   VOTEMON_REPO_URL      the repository Argo CD syncs: the one setting a fork (or the local
#                         cluster's git server) changes; default: the one in apps/base/repository.yaml
#   ARGOCD_URL, ARGOCD_OIDC_CLIENT_ID   gke (not --without-operators): Argo CD's URL, OAuth client id
#   --without-operators   for a cluster that cannot reach the operators' Helm charts (the local one):
#                         their Applications are left out of the root and their CRDs are installed
#                         from `scripts/gitops crd-dirs` (schemas/crds and GKE's stand-ins; locally,
#                         cluster/operators.sh writes their status).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
environment=${1:?usage: $0 dev|gke [--without-operators]}
options=("${@:2}")
local_cluster=false
[[ " ${options[*]} " == *" --without-operators "* ]] && local_cluster=true
# A real gke cluster ends with Google sign-in and no admin account; the local one keeps its admin.
sso=false
[[ $environment == gke && $local_cluster == false ]] && sso=true
if [[ $sso == true ]] && [[ -z ${ARGOCD_URL:-} || -z ${ARGOCD_OIDC_CLIENT_ID:-} ]]; then
  echo "$0 gke: set ARGOCD_URL and ARGOCD_OIDC_CLIENT_ID (Google sign-in replaces the admin account; docs/security.md)" >&2
  exit 2
fi
manifest=$("$root/scripts/gitops" root-app "$environment" ${VOTEMON_REPO_URL:+--repo "$VOTEMON_REPO_URL"} \
  "${options[@]}")
read -r app repo < <("$root/.venv/bin/python" -c 'import sys, yaml
root = yaml.safe_load(sys.stdin)
print(root["metadata"]["name"], root["spec"]["source"]["repoURL"])' <<<"$manifest")
say() { printf '>> %s\n' "$*"; }

if [[ $local_cluster == true ]]; then
  for other in $(argocd app list --project so1-p2-bootstrap -o name); do
    other=${other#argocd/}
    if [[ $other != "$app" ]]; then
      say "deleting root $other and what it synced (the local cluster holds one environment)"
      argocd app delete "$other" --cascade --yes --wait
    fi
  done
  # Every directory the offline validator reads (scripts/gitops crd-dirs): the operators' CRDs and
  # the stand-ins of GKE's own kinds (GKE installs those itself; never applied there).
  crd_dirs=$("$root/scripts/gitops" crd-dirs) # an assignment: a failure stops the bootstrap
  while read -r dir; do
    say "installing the CRDs of $dir (the operators' charts or GKE would, on a real cluster)"
    kubectl apply --server-side --force-conflicts -f "$dir" >/dev/null
  done <<<"$crd_dirs"
  # Poll rather than `kubectl wait`, which errors on a CRD whose status is not written yet.
  established='{range .items[*]}{.status.conditions[?(@.type=="Established")].status}{"\n"}{end}'
  timeout 120 bash -c "until ! kubectl get crd -o jsonpath='$established' | grep -qv True; do sleep 0.5; done"
fi
# The health checks the roots gate their waves on (argocd/health): a child Application is as healthy as
# it reports, and an HPA waiting for its pods' first metrics is Progressing, not Degraded.
kubectl apply --server-side --field-manager=votemon-bootstrap -k "$root/argocd/health" >/dev/null
say "trust root: projects (allowing $repo), default restricted, RBAC"
windows=()
[[ $sso == true ]] && windows=(--sync-windows) # a real GKE cluster: the load test's sync window too
"$root/scripts/gitops" trust-root ${VOTEMON_REPO_URL:+--repo "$VOTEMON_REPO_URL"} "${windows[@]}" |
  kubectl apply --server-side --force-conflicts --field-manager=votemon-trust-root -f - >/dev/null
# A root of an earlier version synced the projects from git: they are no longer its to prune.
kubectl -n argocd annotate appprojects --all argocd.argoproj.io/tracking-id- >/dev/null
kubectl -n argocd label appprojects --all app.kubernetes.io/instance- >/dev/null
say "root app $app from $repo"
argocd app create --upsert -f <(printf '%s\n' "$manifest")
# Until every wave is Synced and Healthy and the root's sync operation is over.
argocd app wait "$app" --sync --health --operation --timeout "${ARGOCD_WAIT_SECONDS:-600}"
argocd app list
if [[ $sso == true ]]; then
  say "Google sign-in on, the shared admin account off (this CLI session ends here)"
  "$root/scripts/gitops" trust-root --sso-url "$ARGOCD_URL" --sso-client-id "$ARGOCD_OIDC_CLIENT_ID" |
    kubectl apply --server-side --field-manager=votemon-trust-root-sso -f - >/dev/null
  kubectl -n argocd delete secret argocd-initial-admin-secret --ignore-not-found >/dev/null
fi

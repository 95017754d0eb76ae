#!/usr/bin/env bash
# Stops what cluster/up.sh started, newest first (SIGTERM, then SIGKILL after 20 s). State stays in
# .local/cluster/ for the next `make cluster`; `cluster/down.sh --wipe` removes it too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export STACK_DIR=$root/.local/cluster
# shellcheck source=stack/lib.sh
source "$root/stack/lib.sh"
"$root/cluster/node.sh" down
for name in argocd-server argocd-application-controller argocd-repo-server argocd-redis git-daemon kwok \
  kube-scheduler kube-controller-manager kube-apiserver etcd; do
  stop "$name"
done
if [[ ${1:-} == --wipe ]]; then
  say "removing $state"
  rm -rf "$state"
fi

# shellcheck shell=bash
# Points kubectl, kustomize and the argocd CLI at the local cluster: `. cluster/env.sh` in a shell.
# Also read by cluster/up.sh, the Makefile and tests/cluster, so each of these facts has one home.
cluster_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=cluster/versions.env
source "$cluster_root/cluster/versions.env"
# shellcheck source=cluster/cluster.env
source "$cluster_root/cluster/cluster.env"
# shellcheck source=cluster/paths.sh
source "$cluster_root/cluster/paths.sh"
cluster_state=$cluster_root/.local/cluster
export KUBECONFIG=$cluster_state/kubeconfig
export ARGOCD_OPTS="--config $cluster_state/argocd/cli.cfg"
export PATH=$cluster_bin:$PATH
export VOTEMON_REPO_URL

# shellcheck shell=bash
# How the cluster's scripts begin: the cluster's facts (env.sh: versions, ports, paths) and the local
# stack's process helpers (stack/lib.sh: start, stop, running, wait_for), with the state of this
# checkout's cluster under .local/cluster. Sets root (the checkout) and here (cluster/).
# shellcheck source=cluster/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
root=$cluster_root
here=$root/cluster
export STACK_DIR=$cluster_state
# shellcheck source=stack/lib.sh
source "$root/stack/lib.sh"

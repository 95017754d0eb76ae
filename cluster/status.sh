#!/usr/bin/env bash
# Which of the local cluster's processes (cluster/up.sh) run from this checkout, and which commit the
# local git server serves as main.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=cluster/env.sh
source "$root/cluster/env.sh"
export STACK_DIR=$cluster_state
# shellcheck source=stack/lib.sh
source "$root/stack/lib.sh"
for name in "${CLUSTER_PROCESSES[@]}"; do
  if running "$name"; then echo "cluster $name: running (pid $(pid_of "$name"))"; else echo "cluster $name: stopped"; fi
done
served=$(git -C "$state/git/votemon.git" rev-parse -q --short --verify refs/heads/main 2>/dev/null || echo none)
echo "cluster git server main: $served (checkout HEAD $(git -C "$root" rev-parse --short HEAD))"

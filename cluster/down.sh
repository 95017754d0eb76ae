#!/usr/bin/env bash
# Stops what cluster/up.sh started from this checkout, newest first (SIGTERM, then SIGKILL after 20 s),
# and says so; says when none of it runs. State stays in .local/cluster/ for the next `make cluster`;
# `cluster/down.sh --wipe` removes it too.
set -euo pipefail
# shellcheck source=cluster/lib.sh
source "$(dirname "$0")/lib.sh"
"$root/cluster/node.sh" down
stopped=0
for name in "${CLUSTER_PROCESSES[@]}"; do
  if running "$name"; then stopped=$((stopped + 1)); fi
  stop "$name"
done
((stopped)) || say "no local cluster runs from $root (its pidfiles: $run)"
if [[ ${1:-} == --wipe ]]; then
  say "removing $state"
  rm -rf "$state"
fi

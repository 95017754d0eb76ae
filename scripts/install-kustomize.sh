#!/usr/bin/env bash
# Installs the pinned kustomize (cluster/versions.env: what Argo CD's repo-server renders with) where
# every renderer of the manifests runs it from (votemon.gitops.kustomize): built once by
# cluster/build.sh into the cache that clones share, linked into .local/bin. Called by
# scripts/install-tools.sh (`make install`) and .github/actions/tools (every CI job).
# Needs go; a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
cluster/build.sh kustomize
# shellcheck source=cluster/versions.env
source cluster/versions.env
# shellcheck source=cluster/paths.sh
source cluster/paths.sh
mkdir -p .local/bin
ln -sfn "$cluster_bin/kustomize" .local/bin/kustomize

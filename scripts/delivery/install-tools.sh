#!/usr/bin/env bash
# What the delivery scripts (bump_image.py, set_replicas.py) need on a bare CI runner: the pinned
# kustomize (cluster/versions.env) on PATH and ruamel.yaml, hash-checked. Needs go and python3
# (actions/setup-go, actions/setup-python); locally `make install` provides both.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=cluster/versions.env
source cluster/versions.env
GOBIN="$RUNNER_TEMP/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
python3 -m pip install --quiet --disable-pip-version-check --require-hashes -r scripts/delivery/requirements.txt

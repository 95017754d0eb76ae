#!/usr/bin/env bash
# What the delivery scripts (bump_image.py, set_replicas.py, diff_rendered.py) need on a bare CI
# runner: the pinned kustomize (scripts/install-kustomize.sh, as `make install` does) and ruamel.yaml,
# hash-checked. Needs go and python3 (actions/setup-go, actions/setup-python); locally `make install`
# provides both.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/install-kustomize.sh
python3 -m pip install --quiet --disable-pip-version-check --require-hashes -r scripts/delivery/requirements.txt

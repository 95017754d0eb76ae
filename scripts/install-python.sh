#!/usr/bin/env bash
# Creates .venv from requirements.lock (hash-checked) with uv, and installs the project into it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
uv_version=0.13.8
if ! command -v uv >/dev/null || [[ "$(uv --version)" != "uv $uv_version"* ]]; then
  echo ">> installing uv $uv_version"
  python3 -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
fi
echo ">> Python environment in $venv (requirements.lock)"
[[ -x "$venv/bin/python" ]] || uv venv --quiet --python python3.11 "$venv"
VIRTUAL_ENV="$venv" uv pip sync --quiet --require-hashes requirements.lock
VIRTUAL_ENV="$venv" uv pip install --quiet --no-deps -e .

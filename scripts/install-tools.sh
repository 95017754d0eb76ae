#!/usr/bin/env bash
# Installs the project's non-Python tools into .local/bin, once: the FerretDB build and the
# workflow linter. Each is pinned; a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .local/bin
actionlint_version=v1.7.12
if [[ ! -x .local/bin/actionlint ]]; then
  echo ">> building actionlint $actionlint_version (go install, first run only)"
  GOBIN="$PWD/.local/bin" go install "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version"
fi

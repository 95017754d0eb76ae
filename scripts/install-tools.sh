#!/usr/bin/env bash
# Installs the project's non-Python tools, once; a second run only checks what is there:
#  - actionlint (pinned, built with go install into .local/bin), for the workflow checks;
#  - kustomize (pinned in cluster/versions.env: what Argo CD's repo-server renders with), by
#    scripts/install-kustomize.sh: the only renderer of the manifests (validator, tests, delivery scripts);
#  - Debian's chromium (the page's browser test drives it through Playwright; never
#    `playwright install`) and CJK fonts, so that non-Latin names render in screenshots;
#  - with --bench (make bench), the load generators: Debian's wrk (closed loop) and vegeta (open loop,
#    pinned, built with go install into ~/.cache/votemon/bench, which clones share; linked to .local/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .local/bin
# renovate: datasource=go depName=github.com/rhysd/actionlint
actionlint_version=v1.7.12
if [[ ! -x .local/bin/actionlint ]]; then
  echo ">> building actionlint $actionlint_version (go install, first run only)"
  GOBIN="$PWD/.local/bin" go install "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version"
fi
scripts/install-kustomize.sh
debian_packages=(chromium fonts-noto-cjk)
if [[ ${1:-} == --bench ]]; then
  debian_packages+=(wrk)
  # renovate: datasource=go depName=github.com/tsenart/vegeta/v12
  vegeta_version=v12.13.0
  vegeta_bin=${XDG_CACHE_HOME:-$HOME/.cache}/votemon/bench/vegeta-$vegeta_version
  if [[ ! -x $vegeta_bin/vegeta ]]; then
    echo ">> building vegeta $vegeta_version (go install, first run only)"
    GOFLAGS=-mod=mod GOWORK=off GOBIN="$vegeta_bin" go install "github.com/tsenart/vegeta/v12@$vegeta_version"
  fi
  ln -sfn "$vegeta_bin/vegeta" .local/bin/vegeta
fi
scripts/debian-install.sh "${debian_packages[@]}"

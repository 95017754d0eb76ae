#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go module proxy, once, into a cache shared by every
# clone on this machine (~/.cache/votemon/cluster/<versions>/bin). A second run only checks what is there.
#   cluster/build.sh [etcd|kubernetes|argocd|kustomize|kwok|metrics-server|node]...   (default: all but
#   node's CoreDNS and FerretDB, which cluster/node.sh builds; kubernetes is the control plane's commands
#   and the node's kubelet and kube-proxy, linked at once)
# Cold, on 2 cores: about 11 minutes of compiling and 6 GB of Go build cache. Argo CD's sources and web UI
# (mostly one thread of webpack) are prepared beside the Go builds that come before argocd's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cluster/versions.env
source "$here/versions.env"
# shellcheck source=cluster/paths.sh
source "$here/paths.sh"
mkdir -p "$cluster_bin" "$cluster_src"
export GOFLAGS=-mod=mod GOWORK=off

say() { printf '>> %s\n' "$*"; }
timed() { # label command...: run it and say how long it took
  local label=$1 started=$SECONDS; shift
  "$@"
  say "$label built in $((SECONDS - started)) s"
}
module_dir() { go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }
copy_module() { # module@version destination: a writable copy of a module's source
  local src
  src=$(module_dir "$1")
  rm -rf "$2" && cp -r "$src" "$2" && chmod -R u+w "$2"
}

build_etcd() {
  [[ -x $cluster_bin/etcd ]] && return
  # etcd's server/v3 go.mod replaces its sibling modules with ../ paths, so `go install pkg@version`
  # is refused; a wrapper module that requires it builds it from the proxy instead.
  local dir=$cluster_src/etcd-wrapper
  mkdir -p "$dir"
  printf 'module etcdbuild\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$dir/tools.go"
  say "building etcd $ETCD_VERSION"
  (cd "$dir" && go mod tidy >/dev/null 2>&1 &&
    timed etcd go build -trimpath -ldflags "-s -w" -o "$cluster_bin/etcd" go.etcd.io/etcd/server/v3)
}

build_kubernetes() { # the control plane's commands and the node's, in one `go build` that links them at once
  build_kubernetes_commands kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy
}

stage_kubernetes() { # the k8s.io/kubernetes tree, once, ready to build any of its commands
  local tree=$cluster_src/kubernetes
  [[ -f $tree/.staged ]] && return
  # The k8s.io/kubernetes module zip has no staging/ tree: fill it from the published k8s.io/* modules
  # (the go.mod's replace directives point there). k8s.io/sample-* are refused by the proxy at this
  # version and are not imported by these binaries, so they get a bare go.mod.
  say "fetching kubernetes $KUBERNETES_VERSION and its staging modules"
  copy_module "k8s.io/kubernetes@$KUBERNETES_VERSION" "$tree"
  local staged
  for staged in $(sed -n 's#^\s*k8s.io/\([a-z-]*\) => ./staging/src/k8s.io/.*#\1#p' "$tree/go.mod"); do
    local dst=$tree/staging/src/k8s.io/$staged
    mkdir -p "$(dirname "$dst")"
    if ! copy_module "k8s.io/$staged@$KUBERNETES_STAGING_VERSION" "$dst" 2>/dev/null; then
      mkdir -p "$dst" && printf 'module k8s.io/%s\n\ngo 1.24.0\n' "$staged" >"$dst/go.mod"
    fi
  done
  touch "$tree/.staged"
}

build_kubernetes_commands() { # name...: build the missing ones of these k8s.io/kubernetes commands
  local tree=$cluster_src/kubernetes name missing=()
  for name in "$@"; do [[ -x $cluster_bin/$name ]] || missing+=("$name"); done
  ((${#missing[@]})) || return 0
  stage_kubernetes
  local minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor
    -X k8s.io/component-base/version.gitTreeState=clean"
  say "building ${missing[*]} $KUBERNETES_VERSION"
  (cd "$tree" && timed "${missing[*]}" go build -trimpath -ldflags "$ldflags" -o "$cluster_bin/" \
    "${missing[@]/#/./cmd/}")
}

argocd_tree=$cluster_src/argo-cd
argocd_built() { # the binary embeds Argo CD's web UI (cluster/argocd-ui.sh): another UI means another binary
  [[ -x $cluster_bin/argocd && $(cat "$cluster_bin/argocd.ui" 2>/dev/null) == "$("$here/argocd-ui.sh" --id)" ]]
}

argocd_sources() { # the argo-cd tree with its web UI built in: node and the network, while Go compiles
  # Argo CD 3.6 needs go >= 1.27 (GOTOOLCHAIN fetches it from the proxy). Its go.mod replaces
  # gitops-engine with ./gitops-engine, a nested module the zip leaves out: copy it in from the proxy.
  if [[ ! -d $argocd_tree/gitops-engine/pkg ]]; then
    say "fetching argo-cd $ARGOCD_VERSION"
    GOTOOLCHAIN=$ARGOCD_GO_TOOLCHAIN copy_module "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" "$argocd_tree"
    GOTOOLCHAIN=$ARGOCD_GO_TOOLCHAIN copy_module "github.com/argoproj/argo-cd/gitops-engine/v3@$ARGOCD_VERSION" \
      "$argocd_tree/gitops-engine"
  fi
  "$here/argocd-ui.sh" "$argocd_tree"
}

build_argocd() {
  argocd_built && return
  if [[ -n ${argocd_sources_job:-} ]]; then
    wait "$argocd_sources_job" || { echo "argo-cd's sources or web UI failed (above)" >&2; exit 1; }
  else
    argocd_sources
  fi
  say "building argocd $ARGOCD_VERSION (one binary for the CLI, every component and the web UI)"
  (cd "$argocd_tree" && GOTOOLCHAIN=$ARGOCD_GO_TOOLCHAIN timed argocd go build -trimpath \
    -ldflags "-s -w -X github.com/argoproj/argo-cd/v3/common.version=${ARGOCD_VERSION#v}" -o "$cluster_bin/argocd" ./cmd)
  "$here/argocd-ui.sh" --id >"$cluster_bin/argocd.ui"
  # The repo-server always execs this wrapper to verify commits, even with GPG off.
  install -m 0755 "$argocd_tree/hack/git-verify-wrapper.sh" "$cluster_bin/git-verify-wrapper.sh"
  # Argo CD's own ConfigMaps, Secret and CRDs come from the release's install.yaml.
  cp "$argocd_tree/manifests/install.yaml" "$cluster_bin/argocd-install.yaml"
}

build_kustomize() {
  [[ -x $cluster_bin/kustomize ]] && return
  say "building kustomize $KUSTOMIZE_VERSION"
  GOBIN=$cluster_bin timed kustomize go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
}

build_kwok() {
  [[ -x $cluster_bin/kwok ]] && return
  say "building kwok $KWOK_VERSION"
  GOBIN=$cluster_bin timed kwok go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # kwok's pod and node lifecycle stages ship in its module.
  "$cluster_bin/kustomize" build "$(module_dir "sigs.k8s.io/kwok@$KWOK_VERSION")/kustomize/stage/fast" \
    >"$cluster_bin/kwok-stages.yaml"
}

build_metrics_server() {
  local binary=$cluster_bin/metrics-server-$METRICS_SERVER_VERSION
  [[ -x $binary ]] && return
  say "building metrics-server $METRICS_SERVER_VERSION"
  GOBIN=$cluster_src/metrics-server-$METRICS_SERVER_VERSION timed metrics-server go install -trimpath \
    -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
    "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
  mv "$cluster_src/metrics-server-$METRICS_SERVER_VERSION/metrics-server" "$binary"
}

# --- the real node (cluster/node.sh): kubelet and kube-proxy from the control plane's own tree, CoreDNS
build_node() {
  build_kubernetes
  build_coredns
  build_ferretdb
}

build_ferretdb() {
  # The pods' MongoDB-wire store checks the mongodb-auth credentials as MongoDB does (SCRAM): only
  # FerretDB's own command can (--test-enable-new-auth), not the embeddable package stack/ferretdb
  # builds. Same version as the stack's; its release build writes the version file the command needs.
  [[ -x $cluster_bin/ferretdb-$FERRETDB_VERSION ]] && return
  local tree=$cluster_src/ferretdb-$FERRETDB_VERSION
  copy_module "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" "$tree"
  echo "$FERRETDB_VERSION" >"$tree/build/version/version.txt"
  say "building ferretdb $FERRETDB_VERSION (its command, with SCRAM authentication)"
  (cd "$tree" && timed ferretdb go build -trimpath -ldflags "-s -w" \
    -o "$cluster_bin/ferretdb-$FERRETDB_VERSION" ./cmd/ferretdb)
}

build_coredns() {
  [[ -x $cluster_bin/coredns-$COREDNS_VERSION ]] && return
  # Only the plugins the node's Corefile uses (cluster/node.sh), not the ~60 of the release: a third of
  # the compile. The plugins register themselves on import; coremain runs the server.
  local dir=$cluster_src/coredns-wrapper plugin imports=""
  for plugin in bind errors health ready hosts kubernetes forward cache loadbalance; do
    imports+=$'\t_ "github.com/coredns/coredns/plugin/'"$plugin"$'"\n'
  done
  mkdir -p "$dir"
  printf 'module corednsbuild\n\ngo 1.26.0\n\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION" >"$dir/go.mod"
  printf 'package main\n\nimport (\n\t"github.com/coredns/coredns/coremain"\n%s)\n\nfunc main() { coremain.Run() }\n' \
    "$imports" >"$dir/main.go"
  say "building coredns $COREDNS_VERSION"
  (cd "$dir" && go mod tidy >/dev/null 2>&1 &&
    timed coredns go build -trimpath -ldflags "-s -w" -o "$cluster_bin/coredns-$COREDNS_VERSION" .)
}

targets=("$@")
((${#targets[@]})) || targets=(kustomize etcd kubernetes argocd kwok metrics-server)
if [[ " ${targets[*]} " == *" argocd "* ]] && ! argocd_built; then
  argocd_sources & # the UI's webpack is mostly one thread: it runs beside the Go builds before argocd's
  argocd_sources_job=$!
fi
for target in "${targets[@]}"; do "build_${target//-/_}"; done

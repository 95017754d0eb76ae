#!/usr/bin/env bash
# Argo CD's web UI, built from source as upstream's Dockerfile builds it: the argo-cd module's ui/
# with pnpm, the lockfile frozen, then copied into an argo-cd source tree's ui/dist/app, which
# `go build` embeds (ui/embed.go); the module zip only has a placeholder there.
#   cluster/argocd-ui.sh ARGO_CD_TREE   build (once) and copy into the tree
#   cluster/argocd-ui.sh --id           the cache key: Argo CD version, argo-ui commit, patch
# The one dependency no registry here serves, argo-ui, comes from cluster/argocd-ui/ (see its README).
# Built once per Argo CD version, argo-ui commit and patch into the shared cache; cold: about 3 min
# of webpack on 2 cores, 2.5 GiB peak memory, ~1.2 GB of node_modules and pnpm store meanwhile.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cluster/versions.env
source "$here/versions.env"
# shellcheck source=cluster/paths.sh
source "$here/paths.sh"
vendored=$here/argocd-ui
tarball=$vendored/argo-ui-${ARGO_UI_COMMIT:0:7}.tgz
patch_id=$(sha256sum "$vendored/argo-ui.patch" | cut -c1-12)
id=argocd-$ARGOCD_VERSION-argo-ui-${ARGO_UI_COMMIT:0:7}-patch-$patch_id
built=$cluster_cache/argocd-ui/$id
if [[ ${1:-} == --id ]]; then
  echo "$id" # what identifies this build of the UI (build.sh rebuilds argocd when it changes)
  exit 0
fi
tree=${1:?usage: $0 ARGO_CD_TREE | --id}
pnpm_prefix=$cluster_cache/pnpm-$ARGOCD_UI_PNPM_VERSION

say() { printf '>> %s\n' "$*"; }

pnpm_installed() {
  [[ -x $pnpm_prefix/node_modules/.bin/pnpm ]] && return
  say "installing pnpm $ARGOCD_UI_PNPM_VERSION (Argo CD's packageManager) from the npm registry"
  npm install --prefix "$pnpm_prefix" --no-save --no-audit --no-fund --loglevel=error "pnpm@$ARGOCD_UI_PNPM_VERSION" >/dev/null
}

build_ui() {
  [[ -f $built/app/index.html ]] && return
  echo "$ARGO_UI_SHA256  $tarball" | sha256sum --check --quiet
  pnpm_installed
  local work=$built.work started=$SECONDS
  rm -rf "$work" && mkdir -p "$work"
  cp -r "$tree/ui/." "$work/" && chmod -R u+w "$work"
  cp "$tarball" "$work/argo-ui.tgz"
  patch --quiet -d "$work" -p2 <"$vendored/argo-ui.patch"
  say "building Argo CD $ARGOCD_VERSION's web UI (argo-ui ${ARGO_UI_COMMIT:0:7}; ~3 min, 2.5 GiB)"
  (
    cd "$work"
    export PATH=$pnpm_prefix/node_modules/.bin:$PATH COREPACK_ENABLE_STRICT=0
    pnpm install --frozen-lockfile --reporter=silent --store-dir "$cluster_cache/pnpm-store"
    NODE_ENV=production NODE_ONLINE_ENV=online ARGO_VERSION=$ARGOCD_VERSION \
      NODE_OPTIONS=--max-old-space-size=6144 pnpm build >"$work/build.log" 2>&1 ||
      { tail -40 "$work/build.log" >&2; exit 1; }
  )
  rm -rf "$built/app" && mkdir -p "$built" && mv "$work/dist/app" "$built/app"
  rm -rf "$work"
  say "web UI built in $((SECONDS - started)) s: $(du -sh "$built/app" | cut -f1) in $built/app"
}

build_ui
rm -rf "$tree/ui/dist/app"
cp -r "$built/app" "$tree/ui/dist/app"

#!/usr/bin/env bash
# Render every Kustomize overlay (what Argo CD would apply) and fail on the first that does not
# build. With -o DIR the rendered manifests are also written to DIR/<overlay>.yaml.
#   scripts/delivery/render_overlays.sh [-o DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
# The project's pinned kustomize (make install links it there; the workflows install the same version).
PATH="$PWD/.local/bin:$PATH"
out=""
while getopts "o:" opt; do
  case $opt in
    o) out=$OPTARG ;;
    *) echo "usage: $0 [-o DIR]" >&2; exit 2 ;;
  esac
done
command -v kustomize >/dev/null || { echo "render_overlays: kustomize is needed (make install)" >&2; exit 2; }
shopt -s nullglob
overlays=(overlays/*/kustomization.yaml)
((${#overlays[@]})) || { echo "render_overlays: no overlays/*/kustomization.yaml" >&2; exit 1; }
[[ -z $out ]] || mkdir -p "$out"
for file in "${overlays[@]}"; do
  dir=$(dirname "$file")
  rendered=$(kustomize build "$dir")
  echo "render_overlays: $dir: $(grep -c '^kind:' <<<"$rendered") objects"
  [[ -z $out ]] || printf '%s\n' "$rendered" >"$out/$(basename "$dir").yaml"
done

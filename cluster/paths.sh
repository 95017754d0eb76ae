# shellcheck shell=bash
# Where the control plane's binaries are cached (shared by clones) and where a checkout keeps its state.
# Expects versions.env to be sourced first.
cluster_cache=${VOTEMON_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/votemon/cluster}
cluster_key=k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-argocd-$ARGOCD_VERSION-kustomize-$KUSTOMIZE_VERSION-kwok-$KWOK_VERSION
cluster_bin=$cluster_cache/$cluster_key/bin
cluster_src=$cluster_cache/src

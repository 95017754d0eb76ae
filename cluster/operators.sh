# shellcheck shell=bash
# The operators the local cluster cannot run (Strimzi, External Secrets, KEDA, ingress and Gateway
# controllers), sourced by cluster/up.sh: their CRDs from schemas/crds, as their charts would install
# them (and GKE's own policy kinds from schemas/stand-in-crds: every directory of `scripts/gitops
# crd-dirs`, the list the offline validator reads), and a kwok of its own that writes their resources' status (cluster/operator-stages.yaml),
# so Argo CD's health checks judge them as on GKE. kwok maps each Stage's kind when it starts, so
# this one starts after the CRDs are served. Expects up.sh's environment (env.sh, stack/lib.sh).

crds_established() {
  # Poll rather than `kubectl wait`, which errors on a CRD whose status is not written yet.
  ! kubectl get crd -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Established")].status}{"\n"}{end}' |
    grep -qv True
}

openapi_serves_the_stages_kinds() {
  # kwok reads each Stage's kind from the OpenAPI v3 document, which lags a CRD's Established.
  local paths group
  paths=$(kubectl get --raw /openapi/v3)
  for group in $(sed -n 's/^    apiGroup: \(.*\/.*\)$/\1/p' "$here/operator-stages.yaml" | sort -u); do
    grep -qF "\"apis/$group\"" <<<"$paths" || return 1
  done
}

up_operators() {
  local dirs dir
  dirs=$("$root/scripts/gitops" crd-dirs) # an assignment: a failure stops up.sh
  while read -r dir; do
    say "installing the CRDs of $dir (the operators' charts or GKE would, on a real cluster)"
    kubectl apply --server-side --force-conflicts -f "$dir" >/dev/null
  done <<<"$dirs"
  wait_for kube-apiserver 120 crds_established
  wait_for kube-apiserver 120 openapi_serves_the_stages_kinds
  running kwok-operators && return
  claim_port kwok-operators "$KWOK_OPERATORS_PORT"
  say "starting kwok-operators: the operators' status on their resources (cluster/operator-stages.yaml)"
  # It manages no node: its only work is the Stages' kinds.
  start kwok-operators kwok --kubeconfig="$KUBECONFIG" --config="$here/operator-stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=votemon.dev/kwok=operators-only \
    --server-address="127.0.0.1:$KWOK_OPERATORS_PORT"
  wait_for kwok-operators 60 http_ok "http://127.0.0.1:$KWOK_OPERATORS_PORT/healthz"
}

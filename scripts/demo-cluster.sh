#!/usr/bin/env bash
# `make demo-cluster`, after `make cluster`: the demo's load (loadtest/demo.py, the same table) through
# the local cluster's pods on the real node: Locust posts to the front Service (the dev Ingress's
# backend; no ingress controller runs here), kube-proxy routes it to the front pod, and the counts are
# read back from the results pod. The services' settings printed are those the pods run with.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cluster/env.sh
source cluster/env.sh
pods() { kubectl -n so1-p2 "$@"; }
for name in front grpc-server consumer results; do
  pods wait --for=condition=Available "deployment/$name" --timeout=180s >/dev/null
done
service() { pods get service "$1" -o jsonpath='http://{.spec.clusterIP}:{.spec.ports[0].port}'; }
mapfile -t consumers < <(pods get pods -l app.kubernetes.io/name=consumer --field-selector=status.phase=Running \
  -o jsonpath='{range .items[*]}http://{.status.podIP}:9102{"\n"}{end}')
config=$(pods get deployment front -o jsonpath='{.spec.template.spec.containers[0].envFrom[0].configMapRef.name}')
# shellcheck disable=SC2016 # a Go template, not shell
while IFS='=' read -r key value; do
  export "$key=$value"
done < <(pods get configmap "$config" -o go-template='{{range $k, $v := .data}}{{$k}}={{$v}}{{"\n"}}{{end}}')
metrics=()
for consumer in "${consumers[@]}"; do metrics+=(--metrics "$consumer/metrics"); done
exec .venv/bin/python loadtest/demo.py --host "$(service front)" --results "$(service results)" "${metrics[@]}"

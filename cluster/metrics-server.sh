# shellcheck shell=bash
# The resource metrics API (metrics.k8s.io) that dev's consumer HPA reads, as metrics-server's chart
# serves it on a real cluster (apps/dev/metrics-server.yaml, out of reach offline): metrics-server
# METRICS_SERVER_VERSION (cluster/build.sh) as a process on the node's address, registered with the
# API server's aggregation layer by an APIService whose Service has no selector: its Endpoints are
# that address (the API server routes to endpoints, --enable-aggregator-routing). It scrapes the real
# node's kubelet alone: kwok's nodes have none. Sourced by cluster/up.sh once the node is up; expects
# up.sh's environment (env.sh, lib.sh, $pki).

metrics_api_available() {
  [[ $(kubectl get apiservice v1beta1.metrics.k8s.io \
    -o jsonpath='{.status.conditions[?(@.type=="Available")].status}') == True ]]
}

up_metrics_server() {
  # Its serving certificate, for the name the API server dials (the Service's) and the address it listens on.
  signed_certificate metrics-server /CN=metrics-server "subjectAltName=DNS:metrics-server.kube-system.svc,\
IP:$NODE_ADDRESS
extendedKeyUsage=serverAuth"
  local url=https://$NODE_ADDRESS:$METRICS_SERVER_PORT
  if ! running metrics-server; then
    host=$NODE_ADDRESS claim_port metrics-server "$METRICS_SERVER_PORT"
    say "starting metrics-server $METRICS_SERVER_VERSION on $url (the real node's kubelet, every 10 s)"
    # The API server's admin credentials, as the other components here; the kubelet serves a certificate
    # it signed itself (no serving certificate bootstrap), so it is not verified (as the chart's
    # --kubelet-insecure-tls on kind). 10 s is the shortest resolution (the HPA's first CPU reading
    # sooner), and a scrape must end within 9/10 of it.
    start metrics-server "$cluster_bin/metrics-server-$METRICS_SERVER_VERSION" --kubeconfig="$KUBECONFIG" \
      --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" \
      --bind-address="$NODE_ADDRESS" --secure-port="$METRICS_SERVER_PORT" \
      --tls-cert-file="$pki/metrics-server.crt" --tls-private-key-file="$pki/metrics-server.key" \
      --node-selector="kubernetes.io/hostname=$NODE_NAME" --kubelet-port="$KUBELET_PORT" \
      --kubelet-preferred-address-types=InternalIP --kubelet-insecure-tls \
      --metric-resolution=10s --kubelet-request-timeout=5s
  fi
  wait_for metrics-server 60 http_ok --cacert "$pki/ca.crt" "$url/livez"
  # v1 Endpoints (deprecated in 1.33, hence kubectl's warning, filtered) is what the aggregation
  # layer's routing reads.
  kubectl apply --server-side --field-manager=votemon-metrics-server -f - >/dev/null \
    2> >(grep -v 'v1 Endpoints is deprecated' >&2) <<EOF
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system}
spec:
  ports: [{name: https, port: 443, targetPort: $METRICS_SERVER_PORT, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: metrics-server, namespace: kube-system}
subsets: [{addresses: [{ip: $NODE_ADDRESS}], ports: [{name: https, port: $METRICS_SERVER_PORT, protocol: TCP}]}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: {name: metrics-server, namespace: kube-system, port: 443}
  caBundle: $(base64 -w0 "$pki/ca.crt")
EOF
  wait_for metrics-server 60 metrics_api_available
}

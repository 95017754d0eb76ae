#!/usr/bin/env bash
# A real Kubernetes control plane and Argo CD on loopback, no Docker: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok fake nodes (pods reach Running and Ready), a real node
# (cluster/node.sh: kubelet, kube-proxy, containerd; the votemon Deployments run there), Argo CD's
# repo-server, application-controller and argocd-server (for the argocd CLI), and a git server that
# serves this checkout's committed HEAD as branch main.
#   cluster/up.sh        build what is missing (first time: ~11 min), start what is not running, wait
#   cluster/up.sh status which of its processes run, and the commit the git server serves
#   cluster/up.sh push   serve the checkout's current HEAD again (after a commit); commits pushed to
#                        the git server that HEAD lacks are kept there as branch kept/<sha>
# State (certificates, etcd data, logs, kubeconfig) lives under .local/cluster/; ports in cluster.env.
set -euo pipefail
# shellcheck source=cluster/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=cluster/notifications.sh
source "$here/notifications.sh"
# shellcheck source=cluster/operators.sh
source "$here/operators.sh"
# shellcheck source=cluster/metrics-server.sh
source "$here/metrics-server.sh"
git_root=$state/git
# Argo CD runs as local processes: "in cluster" means the API server in $KUBECONFIG, and its
# data paths are ours, not /app/config.
export ARGOCD_FAKE_IN_CLUSTER=true ARGOCD_GPG_ENABLED=false \
  ARGOCD_TLS_DATA_PATH=$state/argocd/tls ARGOCD_SSH_DATA_PATH=$state/argocd/ssh \
  ARGOCD_GNUPGHOME=$state/argocd/gpg/keys ARGOCD_GPG_DATA_PATH=$state/argocd/gpg/source

api_ready() { kubectl get --raw /readyz; }
established() { # CRD names...: each is served (kubectl wait errors while .status is still empty)
  local crd
  for crd in "$@"; do
    [[ $(kubectl get crd "$crd" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}') == True ]] || return 1
  done
}

certificates() {
  [[ -f $pki/ca.crt ]] || say "creating the cluster's certificates and service-account key"
  certificate_authority ca /CN=votemon-local-ca
  signed_certificate apiserver /CN=kube-apiserver "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,\
DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.96.0.1
extendedKeyUsage=serverAuth"
  # The aggregation layer (cluster/metrics-server.sh): the API server proxies to an extension API
  # server as front-proxy-client, a client of a CA of its own that the extension trusts for that alone.
  certificate_authority front-proxy-ca /CN=votemon-front-proxy-ca
  client_certificate front-proxy-client /CN=front-proxy-client front-proxy-ca
  if [[ ! -f $pki/sa.key ]]; then
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null && openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  fi
  # A static admin token, generated per checkout (never in git).
  [[ -f $pki/tokens.csv ]] || printf '%s,admin,1000,system:masters\n' "$(openssl rand -hex 24)" >"$pki/tokens.csv"
}

kubeconfig() {
  local token
  token=$(cut -d, -f1 "$pki/tokens.csv")
  cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: votemon-local, cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: $pki/ca.crt}}]
users: [{name: admin, user: {token: $token}}]
contexts: [{name: votemon-local, context: {cluster: votemon-local, user: admin}}]
current-context: votemon-local
EOF
  chmod 600 "$KUBECONFIG"
}

up_etcd() {
  running etcd && return
  claim_port etcd "$ETCD_CLIENT_PORT"
  say "starting etcd $ETCD_VERSION on 127.0.0.1:$ETCD_CLIENT_PORT"
  local client=http://127.0.0.1:$ETCD_CLIENT_PORT peer=http://127.0.0.1:$ETCD_PEER_PORT
  start etcd etcd --name votemon --data-dir "$state/etcd" --log-level warn \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "votemon=$peer"
  wait_for etcd 60 http_ok "$client/health"
}

up_apiserver() {
  running kube-apiserver && return
  local node_flags
  mapfile -t node_flags < <("$here/node.sh" apiserver-flags)
  claim_port kube-apiserver "$APISERVER_PORT"
  say "starting kube-apiserver $KUBERNETES_VERSION on https://127.0.0.1:$APISERVER_PORT"
  start kube-apiserver kube-apiserver --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" --advertise-address=127.0.0.1 \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
    --token-auth-file="$pki/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=false "${node_flags[@]}" \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- --proxy-client-cert-file="$pki/front-proxy-client.crt" \
    --proxy-client-key-file="$pki/front-proxy-client.key" --enable-aggregator-routing=true
  wait_for kube-apiserver 120 api_ready
}

up_controllers() {
  if ! running kube-controller-manager; then
    say "starting kube-controller-manager and kube-scheduler"
    # No cloud, no node IPAM or lifecycle (kwok keeps its nodes Ready), no volume attach. The HPAs read
    # their metrics every 5 s (15 s by default): dev's consumer HPA has its first CPU reading sooner.
    start kube-controller-manager kube-controller-manager --kubeconfig="$KUBECONFIG" --leader-elect=false \
      --bind-address=127.0.0.1 --secure-port=0 --service-account-private-key-file="$pki/sa.key" \
      --root-ca-file="$pki/ca.crt" --use-service-account-credentials=false --enable-hostpath-provisioner \
      --horizontal-pod-autoscaler-sync-period=5s \
      --controllers='*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller,-attachdetach'
  fi
  running kube-scheduler ||
    start kube-scheduler kube-scheduler --kubeconfig="$KUBECONFIG" --leader-elect=false --bind-address=127.0.0.1 --secure-port=0
}

up_nodes() {
  if ! running kwok; then
    claim_port kwok "$KWOK_PORT"
    say "starting kwok $KWOK_VERSION: fake nodes ${KWOK_ZONES[*]}"
    start kwok kwok --kubeconfig="$KUBECONFIG" --config="$cluster_bin/kwok-stages.yaml" \
      --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
      --cidr=10.0.0.0/24 --node-ip=10.0.0.1 --node-lease-duration-seconds=40 --server-address="127.0.0.1:$KWOK_PORT"
  fi
  local zone
  for zone in "${KWOK_ZONES[@]}"; do
    kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-$zone
  annotations: {node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/arch: amd64, kubernetes.io/os: linux, kubernetes.io/hostname: kwok-$zone, type: kwok,
           topology.kubernetes.io/zone: $zone, topology.kubernetes.io/region: local}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
EOF
  done
  kubectl apply -f "$here/storage.yaml" >/dev/null
  kubectl wait --for=condition=Ready node -l type=kwok --timeout=60s >/dev/null
  # The API server taints a new node not-ready; the node lifecycle controller, which would lift it,
  # is off (kwok keeps the nodes Ready itself), so lift it here.
  for zone in "${KWOK_ZONES[@]}"; do
    kubectl patch node "kwok-$zone" --type merge -p '{"spec":{"taints":null}}' >/dev/null
  done
}

up_git() {
  if [[ ! -d $git_root/votemon.git ]]; then
    mkdir -p "$git_root"
    git init -q --bare --initial-branch=main "$git_root/votemon.git"
    touch "$git_root/votemon.git/git-daemon-export-ok"
    git -C "$git_root/votemon.git" config receive.denyNonFastForwards false
  fi
  push_head
  running git-daemon && return
  claim_port git-daemon "$GIT_DAEMON_PORT"
  say "serving $git_root on git://127.0.0.1:$GIT_DAEMON_PORT/"
  start git-daemon git daemon --reuseaddr --listen=127.0.0.1 --port="$GIT_DAEMON_PORT" \
    --base-path="$git_root" --enable=receive-pack "$git_root"
  wait_for git-daemon 30 git ls-remote "git://127.0.0.1:$GIT_DAEMON_PORT/votemon.git"
}

push_head() { # serve HEAD as main; commits pushed to the server that HEAD lacks are kept, never lost
  local server=$git_root/votemon.git head served
  head=$(git -C "$root" rev-parse HEAD)
  served=$(git -C "$server" rev-parse -q --verify refs/heads/main || true)
  if [[ -n $served && $served != "$head" ]] && ! git -C "$root" merge-base --is-ancestor "$served" "$head" 2>/dev/null; then
    git -C "$server" update-ref "refs/heads/kept/${served:0:12}" "$served"
    say "the local git server's main (${served:0:12}) has commits this checkout lacks (pushed there):"
    say "  kept as branch kept/${served:0:12}; to bring them here: git pull $VOTEMON_REPO_URL kept/${served:0:12}"
  fi
  say "serving commit ${head:0:12} as main"
  git -C "$root" push -q --force "$server" HEAD:refs/heads/main
}

up_argocd() {
  mkdir -p "$state"/argocd/{tls,ssh,gpg/keys,gpg/source}
  if ! running argocd-redis; then
    claim_port argocd-redis "$ARGOCD_REDIS_PORT"
    mkdir -p "$state/argocd-redis"
    start argocd-redis redis-server --bind 127.0.0.1 --port "$ARGOCD_REDIS_PORT" --dir "$state/argocd-redis" \
      --save "" --appendonly no
  fi
  say "applying Argo CD $ARGOCD_VERSION's CRDs and config (from its install.yaml; its components run here as processes)"
  kubectl get namespace argocd >/dev/null 2>&1 || kubectl create namespace argocd >/dev/null
  "$root/.venv/bin/python" "$here/install_argocd_config.py" "$cluster_bin/argocd-install.yaml" |
    kubectl apply --server-side -n argocd -f - >/dev/null
  wait_for kube-apiserver 60 established applications.argoproj.io appprojects.argoproj.io
  local redis=127.0.0.1:$ARGOCD_REDIS_PORT repo_server=127.0.0.1:$ARGOCD_REPO_SERVER_PORT
  if ! running argocd-repo-server; then
    claim_port argocd-repo-server "$ARGOCD_REPO_SERVER_PORT"
    say "starting argocd-repo-server on $repo_server"
    ARGOCD_BINARY_NAME=argocd-repo-server start argocd-repo-server argocd --address 127.0.0.1 \
      --port "$ARGOCD_REPO_SERVER_PORT" --metrics-address 127.0.0.1 --metrics-port "$ARGOCD_REPO_SERVER_METRICS_PORT" \
      --redis "$redis" --loglevel info
  fi
  if ! running argocd-application-controller; then
    say "starting argocd-application-controller"
    HOSTNAME=argocd-application-controller-0 ARGOCD_BINARY_NAME=argocd-application-controller \
      start argocd-application-controller argocd --namespace argocd --repo-server "$repo_server" --redis "$redis" \
      --metrics-port "$ARGOCD_CONTROLLER_METRICS_PORT" --loglevel info --persist-resource-health
  fi
  if ! running argocd-server; then
    claim_port argocd-server "$ARGOCD_SERVER_PORT"
    say "starting argocd-server on 127.0.0.1:$ARGOCD_SERVER_PORT (API for the argocd CLI)"
    HOSTNAME=argocd-server ARGOCD_BINARY_NAME=argocd-server start argocd-server argocd --namespace argocd \
      --insecure --address 127.0.0.1 --port "$ARGOCD_SERVER_PORT" --metrics-port "$ARGOCD_SERVER_METRICS_PORT" \
      --repo-server "$repo_server" --redis "$redis" --loglevel info
  fi
  wait_for argocd-repo-server 60 http_ok "http://127.0.0.1:$ARGOCD_REPO_SERVER_METRICS_PORT/metrics"
  wait_for argocd-application-controller 60 http_ok "http://127.0.0.1:$ARGOCD_CONTROLLER_METRICS_PORT/metrics"
  wait_for argocd-server 60 http_ok "http://127.0.0.1:$ARGOCD_SERVER_PORT/healthz"
  # argocd-server writes the admin's first password on its first start; the CLI logs in with it.
  local password
  password=$(kubectl -n argocd get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d)
  argocd login "127.0.0.1:$ARGOCD_SERVER_PORT" --plaintext --username admin --password "$password" >/dev/null
}

case ${1:-up} in
  up)
    "$here/build.sh"
    started=$SECONDS
    certificates
    kubeconfig
    up_etcd
    up_apiserver
    up_controllers
    up_nodes
    up_git
    up_operators
    up_argocd
    "$here/node.sh" up
    up_metrics_server
    up_notifications
    say "cluster ready in $((SECONDS - started)) s: export KUBECONFIG=$KUBECONFIG; Argo CD API on 127.0.0.1:$ARGOCD_SERVER_PORT"
    say "Argo CD's web UI: http://127.0.0.1:$ARGOCD_SERVER_PORT/ (user admin; password:" \
      "kubectl -n argocd get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d)"
    ;;
  push) push_head ;;
  status)
    for name in "${CLUSTER_PROCESSES[@]}"; do
      if running "$name"; then echo "cluster $name: running (pid $(pid_of "$name"))"; else echo "cluster $name: stopped"; fi
    done
    served=$(git -C "$git_root/votemon.git" rev-parse -q --short --verify refs/heads/main 2>/dev/null || echo none)
    echo "cluster git server main: $served (checkout HEAD $(git -C "$root" rev-parse --short HEAD))"
    ;;
  *) echo "usage: $0 [up|push|status]" >&2; exit 2 ;;
esac

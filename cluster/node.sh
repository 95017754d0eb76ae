#!/usr/bin/env bash
# A real node beside the kwok ones: Debian's containerd and runc, the CNI bridge, and a kubelet and
# kube-proxy (iptables) built from the control plane's own Kubernetes source (cluster/build.sh node).
# The four votemon Deployments run on it, from the image built from the Dockerfile (cluster/image.sh);
# a CoreDNS serves the cluster's names to its pods; and the data stores they use are a second instance
# of the local stack (Kafka with the users of base/kafka/users.yaml; Redis with the redis-auth password
# and the users of base/redis/users.acl; FerretDB with the mongodb-auth user) on the node's bridge address.
#   cluster/node.sh up               build and start what is missing, wait until the node is Ready
#   cluster/node.sh down             stop it all, its containers, and undo its network changes
#   cluster/node.sh apiserver-flags  the API server's flags to reach kubelets (its client certificate)
#   cluster/node.sh secrets          the datastore Secrets (redis-auth, redis-<user>, mongodb-auth, the
#                                    Kafka users' and votes-cluster-ca-cert), if
#                                    missing (after a namespace was deleted: another environment's
#                                    bootstrap deletes it)
#   cluster/node.sh import NAME      import what cluster/image.sh built since, and print NAME as name@digest
#                                    (what the images workflow's bump writes), resolvable on the node
# State (containerd, kubelet, CNI, the data stores) lives under .local/cluster/node and .local/cluster/data.
set -euo pipefail
# shellcheck source=cluster/lib.sh
source "$(dirname "$0")/lib.sh"
node=$state/node
data=$state/data
socket=$node/containerd/containerd.sock
# The namespace of the workloads, and the data services' names in it (overlays/*/data, votemon-config).
namespace=so1-p2
data_names=(votes-kafka-bootstrap redis mongodb)
taint=votemon.dev/real-node
mongo_user=votemon # the username of overlays/dev/data/secrets.yaml's mongodb-auth

ctr() { command ctr --address "$socket" --namespace k8s.io "$@"; }

# --- certificates (signed by the cluster's CA: cluster/lib.sh) -------------------------------
component_kubeconfig() { # name: a kubeconfig with that name's client certificate
  cat >"$node/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: votemon-local, cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: $pki/ca.crt}}]
users: [{name: $1, user: {client-certificate: $pki/$1.crt, client-key: $pki/$1.key}}]
contexts: [{name: votemon-local, context: {cluster: votemon-local, user: $1}}]
current-context: votemon-local
EOF
}

apiserver_flags() {
  client_certificate apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  printf '%s\n' --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" --kubelet-preferred-address-types=InternalIP
}

# --- network ----------------------------------------------------------------------------------
network_up() {
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    say "creating bridge $NODE_BRIDGE ($NODE_ADDRESS, pods on $NODE_POD_SUBNET)"
    ip link add "$NODE_BRIDGE" type bridge
    ip addr add "$NODE_ADDRESS/${NODE_POD_SUBNET#*/}" dev "$NODE_BRIDGE"
  fi
  ip link set "$NODE_BRIDGE" up
  # Pods reach Services through the node (kube-proxy's DNAT): the VM ships with forwarding off.
  [[ -f $node/ip_forward.before ]] || cat /proc/sys/net/ipv4/ip_forward >"$node/ip_forward.before"
  sysctl -qw net.ipv4.ip_forward=1
  mkdir -p "$node/cni/net.d"
  cat >"$node/cni/net.d/10-votemon.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "votemon",
  "plugins": [
    {"type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$node/cni/ipam", "routes": [{"dst": "0.0.0.0/0"}],
              "ranges": [[{"subnet": "$NODE_POD_SUBNET", "gateway": "$NODE_ADDRESS"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

network_down() {
  # kube-proxy's, the kubelet's and the CNI plugins' rules: every chain named KUBE-* or CNI-*.
  local tool rules
  for tool in iptables ip6tables; do
    command -v "$tool-save" >/dev/null || continue
    rules=$("$tool-save")
    if grep -q -e KUBE- -e CNI- <<<"$rules"; then
      grep -v -e KUBE- -e CNI- <<<"$rules" | "$tool-restore"
    fi
  done
  ip link show "$NODE_BRIDGE" >/dev/null 2>&1 && ip link delete "$NODE_BRIDGE"
  if [[ -f $node/ip_forward.before ]]; then
    sysctl -qw net.ipv4.ip_forward="$(cat "$node/ip_forward.before")"
    rm -f "$node/ip_forward.before"
  fi
  rm -rf "$node/cni/ipam"
}

delete_pod_namespaces() {
  local netns
  for netns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns delete "$netns"; done
}

clear_a_lost_node() {
  # A session that ends without `cluster/down.sh` leaves its pods' network namespaces on the bridge,
  # holding their addresses; a checkout whose leases don't know them would hand the same addresses to
  # new pods (two hosts, one address: connections that fail at random). With no containerd or shim
  # left on this machine, those namespaces are nobody's: remove them with the network and its leases.
  pgrep containerd >/dev/null && return
  ip netns list 2>/dev/null | grep -q '^cni-' || return 0
  say "removing the pod network of a node that stopped without cluster/down.sh"
  delete_pod_namespaces
  network_down
}

# --- containerd and the images ----------------------------------------------------------------
up_containerd() {
  running containerd && return
  mkdir -p "$node/containerd"
  cat >"$node/containerd/config.toml" <<EOF
version = 2
root = "$node/containerd/root"
state = "$node/containerd/state"
[grpc]
  address = "$socket"
[plugins."io.containerd.grpc.v1.cri"]
  # registry.k8s.io is out of reach: the sandbox image is built here (cluster/image.sh).
  sandbox_image = "localhost/pause:catatonit"
  # This VM has no CAP_SYS_RESOURCE: a negative oom_score_adj cannot be set.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # crun refuses this VM's hybrid cgroup layout; no systemd here.
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
EOF
  say "starting containerd (runc, CNI bridge)"
  start containerd containerd --config "$node/containerd/config.toml"
  wait_for containerd 30 ctr version
}

import_images() { # the archives cluster/image.sh wrote, each once per build
  local archive stamp
  for archive in "$state"/images/*.tar; do
    stamp=${archive%.tar}.id
    [[ $(cat "$archive.imported" 2>/dev/null) == "$(cat "$stamp")" ]] && continue
    say "importing $(basename "$archive" .tar) into containerd"
    ctr images import "$archive" >/dev/null
    cp "$stamp" "$archive.imported"
  done
}

digest_reference() { # name: name@digest, which a manifest can deploy: the imported image's manifest digest,
  # given a reference of that form as a pull by digest would leave it (the kubelet finds it, IfNotPresent)
  local digest reference
  digest=$(ctr images ls "name==$1" | awk 'NR == 2 {print $3}')
  [[ $digest == sha256:* ]] || die "containerd has no image $1 (cluster/image.sh builds it; import first)"
  reference=${1%:*}@$digest
  ctr images ls -q "name==$reference" | grep -q . || ctr images tag "$1" "$reference" >/dev/null
  echo "$reference"
}

# --- the cluster's DNS ------------------------------------------------------------------------
up_coredns() {
  running coredns && return
  # The data services' names answer with the node's address, where their local instances listen
  # (no operator runs Kafka here; the data stage's Redis and MongoDB pods are kwok's, which run nothing).
  local names="" name
  for name in "${data_names[@]}"; do names+="    $NODE_ADDRESS $name.$namespace.svc.cluster.local"$'\n'; done
  cat >"$node/Corefile" <<EOF
.:53 {
  bind $NODE_ADDRESS
  errors
  health 127.0.0.1:$COREDNS_HEALTH_PORT
  ready 127.0.0.1:$COREDNS_READY_PORT
  hosts {
$names    fallthrough
  }
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    kubeconfig $KUBECONFIG votemon-local
    pods insecure
    fallthrough in-addr.arpa ip6.arpa
  }
  forward . /etc/resolv.conf
  cache 5
  loadbalance
}
EOF
  say "starting coredns $COREDNS_VERSION on $NODE_ADDRESS:53"
  start coredns "$cluster_bin/coredns-$COREDNS_VERSION" -conf "$node/Corefile"
  wait_for coredns 30 http_ok "http://127.0.0.1:$COREDNS_READY_PORT/ready"
}

# --- kubelet and kube-proxy -------------------------------------------------------------------
up_kubelet() {
  running kubelet && return
  client_certificate kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  component_kubeconfig kubelet
  mkdir -p "$node/kubelet" "$node/pod-logs" "$node/volume-plugins"
  cat >"$node/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$socket
address: $NODE_ADDRESS
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
clusterDNS: [$NODE_ADDRESS]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podLogsDir: $node/pod-logs
volumePluginDir: $node/volume-plugins
registerWithTaints: [{key: $taint, value: "true", effect: NoSchedule}]
# This VM: cgroup v1 hybrid without systemd, swap allowed, no CAP_SYS_RESOURCE (the kubelet cannot
# lower its own oom_score_adj nor raise its open-files limit).
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
maxOpenFiles: 20000
# The node shares this machine's disk with everything else on it, and every image here was imported,
# never pulled (nothing could pull one back): no image garbage collection (at 85 % of the disk it
# removed the sandbox image, and no pod could start again), and no eviction for a disk pressure that
# is the machine's, not the pods'.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
EOF
  say "starting kubelet $KUBERNETES_VERSION as node $NODE_NAME"
  start kubelet "$cluster_bin/kubelet" --config="$node/kubelet.yaml" --kubeconfig="$node/kubelet.kubeconfig" \
    --root-dir="$node/kubelet" --cert-dir="$node/kubelet/pki" --hostname-override="$NODE_NAME" \
    --node-ip="$NODE_ADDRESS" --node-labels="$taint=true"
  wait_for kubelet 60 http_ok "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"
}

up_kube_proxy() {
  running kube-proxy && return
  client_certificate kube-proxy "/CN=system:kube-proxy"
  component_kubeconfig kube-proxy
  cat >"$node/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $node/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $NODE_POD_SUBNET
healthzBindAddress: 127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$KUBE_PROXY_METRICS_PORT
# NodePorts only on the node's address, never on 127.0.0.1, where the tests' services take ports.
nodePortAddresses: ["$NODE_ADDRESS/32"]
iptables: {localhostNodePorts: false}
# Leave the host's conntrack sysctls as they are.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  say "starting kube-proxy $KUBERNETES_VERSION (iptables)"
  start kube-proxy "$cluster_bin/kube-proxy" --config="$node/kube-proxy.yaml"
  wait_for kube-proxy 60 http_ok "http://127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT/healthz"
}

node_ready() {
  [[ $(kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

lift_not_ready_taint() {
  # The node lifecycle controller, which would lift it, is off (cluster/up.sh).
  local taints
  taints=$(kubectl get node "$NODE_NAME" -o json |
    "$root/.venv/bin/python" -c 'import json, sys
taints = json.load(sys.stdin)["spec"].get("taints", [])
print(json.dumps([t for t in taints if not t["key"].startswith("node.kubernetes.io/")]))')
  kubectl patch node "$NODE_NAME" --type merge -p "{\"spec\":{\"taints\":$taints}}" >/dev/null
}

# --- the data stores the pods use --------------------------------------------------------------
password() { # name: a password generated once for this cluster (32 hex characters), kept in its state
  local file=$data/secrets/$1.password
  if [[ ! -s $file ]]; then
    mkdir -p "$data/secrets" && (umask 077 && openssl rand -hex 16 >"$file")
  fi
  cat "$file"
}

data_secrets() {
  # What the External Secrets Operator does on a real cluster (overlays/dev/data/secrets.yaml): the
  # redis-auth, redis-<user> and mongodb-auth Secrets, generated once. No operator runs here; the
  # same passwords are the data stores' own, so a Secret deleted with its namespace comes back with them.
  kubectl get namespace "$namespace" >/dev/null 2>&1 || kubectl create namespace "$namespace" >/dev/null
  kubectl -n "$namespace" get secret redis-auth >/dev/null 2>&1 ||
    kubectl -n "$namespace" create secret generic redis-auth --from-literal=password="$(password redis)" >/dev/null
  kubectl -n "$namespace" get secret mongodb-auth >/dev/null 2>&1 ||
    kubectl -n "$namespace" create secret generic mongodb-auth --from-literal=username="$mongo_user" \
      --from-literal=password="$(password mongodb)" >/dev/null
  # A Secret redis-<user> per user of base/redis/users.acl, with the password the pods' Redis has for
  # it: the data stack's own (`stack.sh users` makes those missing and says where they are).
  local keyword user users
  users=$(data_stack users)
  while read -r keyword user _; do
    [[ $keyword == user ]] || continue
    kubectl -n "$namespace" get secret "redis-$user" >/dev/null 2>&1 </dev/null ||
      kubectl -n "$namespace" create secret generic "redis-$user" \
        --from-literal=password="$(cat "$users/$user")" >/dev/null </dev/null
  done <"$root/base/redis/users.acl"
  # What Strimzi makes on a real cluster: a Secret per KafkaUser of base/kafka/users.yaml (key
  # password) and the cluster CA's votes-cluster-ca-cert (key ca.crt), from the data stack's Kafka.
  local kafka
  kafka=$(data_stack kafka-credentials)
  for user in $("$root/.venv/bin/python" -m votemon.dev.kafka_users users); do
    kubectl -n "$namespace" get secret "$user" >/dev/null 2>&1 ||
      kubectl -n "$namespace" create secret generic "$user" --from-file=password="$kafka/users/$user" >/dev/null
  done
  kubectl -n "$namespace" get secret votes-cluster-ca-cert >/dev/null 2>&1 ||
    kubectl -n "$namespace" create secret generic votes-cluster-ca-cert --from-file=ca.crt="$kafka/tls/ca.crt" >/dev/null
}

data_stack() { # stack/stack.sh's Kafka and Redis on the node's address, Redis with the Secret's password
  # (its MongoDB address is the Service's name, not this machine's: stack.sh leaves FerretDB out)
  # Its Kafka's certificate also names the Service the pods find it by (votemon.env's address).
  STACK_DIR=$data KAFKA_CONTROLLER_PORT=19093 REDIS_PASSWORD=$(password redis) \
    KAFKA_TLS_NAMES=votes-kafka-bootstrap.$namespace.svc \
    KAFKA_BOOTSTRAP_SERVERS=$NODE_ADDRESS:9092 REDIS_URL=redis://$NODE_ADDRESS:6379/0 \
    MONGO_URI=mongodb://mongodb.$namespace.svc:27017/ "$root/stack/stack.sh" "$@"
}

up_data_ferretdb() {
  # FerretDB's own command, which checks credentials with SCRAM as MongoDB does (the stack's embedded
  # FerretDB refuses SCRAM, so the pods' mongodb-auth login would fail): the Secret's user, in admin.
  running ferretdb && return
  mkdir -p "$data/ferretdb"
  say "starting ferretdb $FERRETDB_VERSION (SCRAM, user from mongodb-auth) on $NODE_ADDRESS:27017"
  start ferretdb "$cluster_bin/ferretdb-$FERRETDB_VERSION" --handler=sqlite --sqlite-url="file:$data/ferretdb/" \
    --state-dir="$data/ferretdb" --listen-addr="$NODE_ADDRESS:27017" --debug-addr="127.0.0.1:$FERRETDB_DEBUG_PORT" \
    --telemetry=disable --log-level=WARN --test-enable-new-auth --setup-database=admin \
    --setup-username="$mongo_user" --setup-password="$(password mongodb)"
  host=$NODE_ADDRESS wait_for ferretdb 30 port_open 27017
}

up() {
  "$here/build.sh" node
  "$here/image.sh"
  debian_install containerd runc containernetworking-plugins iptables conntrack
  mkdir -p "$node"
  clear_a_lost_node
  network_up
  data_secrets
  data_stack up >"$logs/data-stack.log" 2>&1 &
  local data_started=$!
  up_data_ferretdb
  up_containerd
  import_images
  up_coredns
  up_kubelet
  up_kube_proxy
  wait_for kubelet 60 node_ready
  lift_not_ready_taint
  wait "$data_started" || die "the pods' data stores did not start; see $logs/data-stack.log"
  say "node $NODE_NAME Ready (pods on $NODE_POD_SUBNET; data stores on $NODE_ADDRESS)"
}

down() {
  stop kube-proxy
  stop kubelet
  if running containerd; then
    # The kubelet is gone: stop what it started (the Pods stay in the API and start again on `up`).
    local task
    for task in $(ctr tasks list -q); do ctr tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true; done
    for task in $(ctr tasks list -q); do ctr tasks delete --force "$task" >/dev/null 2>&1 || true; done
    for task in $(ctr containers list -q); do ctr containers delete "$task" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  delete_pod_namespaces
  stop coredns
  stop ferretdb
  [[ -d $data ]] && data_stack down
  network_down
  # The kubelet's volumes and the sandboxes' shm stay mounted after their processes end: unmount them,
  # deepest first, so that `make cluster-down --wipe` (or removing the checkout) can delete the state.
  awk -v under="$node/" 'index($2, under) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n 1 umount -l
}

case ${1:-} in
  up) up ;;
  down) down ;;
  apiserver-flags) apiserver_flags ;;
  secrets) data_secrets ;;
  import) import_images >&2 && digest_reference "$2" ;;
  *) echo "usage: $0 up|down|apiserver-flags|secrets|import NAME" >&2; exit 2 ;;
esac

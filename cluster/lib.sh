# shellcheck shell=bash
# How the cluster's scripts begin: the cluster's facts (env.sh: versions, ports, paths) and the local
# stack's process helpers (stack/lib.sh: start, stop, running, wait_for), with the state of this
# checkout's cluster under .local/cluster. Sets root (the checkout) and here (cluster/).
# shellcheck source=cluster/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
root=$cluster_root
here=$root/cluster
export STACK_DIR=$cluster_state
# shellcheck source=stack/lib.sh
source "$root/stack/lib.sh"

# A health endpoint answers 2xx within 2 s (curl options, such as --cacert, before the URL).
http_ok() { curl -fsS -o /dev/null --max-time 2 "$@"; }

# --- the cluster's certificates (cluster/up.sh: the control plane's; cluster/node.sh: the node's) ---
pki=$state/pki

certificate_authority() { # name subject: a CA, created once
  [[ -f $pki/$1.crt ]] && return
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -out "$pki/$1.crt" -days 3650 -subj "$2" 2>/dev/null
}

signed_certificate() { # name subject extensions [ca]: a certificate signed by the cluster's CA (or by CA
  # `ca`), created once; extensions: openssl's extfile lines (subjectAltName, extendedKeyUsage)
  [[ -f $pki/$1.crt ]] && return
  local ca=${4:-ca}
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "$2" 2>/dev/null
  printf '%s\n' "$3" >"$pki/$1.ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" -CAcreateserial \
    -out "$pki/$1.crt" -days 3650 -extfile "$pki/$1.ext" 2>/dev/null
}

client_certificate() { # name subject [ca]: a client certificate signed by the cluster's CA (or by CA `ca`)
  signed_certificate "$1" "$2" extendedKeyUsage=clientAuth "${3:-ca}"
}

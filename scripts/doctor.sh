#!/usr/bin/env bash
# `make doctor`: what this machine needs for the project, checked in a few seconds before anything long
# starts; each missing piece is named with how to get it. Exit 1 when something required is missing.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
missing=0
ok() { printf '  ok    %-17s %s\n' "$1" "$2"; }
warn() { printf '  note  %-17s %s\n' "$1" "$2"; }
need() { printf '  MISS  %-17s %s\n' "$1" "$2"; missing=$((missing + 1)); }
version_at_least() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1) == "$2" ]]; } # have want

echo ">> tools"
if command -v python3.11 >/dev/null; then ok python3.11 "$(python3.11 --version)"; else
  need python3.11 "Python 3.11 (uv venv --python python3.11): apt-get install python3.11 python3.11-venv, or pyenv install 3.11"
fi
go_wanted=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$root/stack/ferretdb/go.mod")
# shellcheck source=cluster/versions.env
source "$root/cluster/versions.env"
if command -v go >/dev/null; then
  go_have=$(go env GOVERSION | sed 's/^go//')
  if version_at_least "$go_have" "$go_wanted"; then
    ok go "go$go_have (FerretDB needs $go_wanted; the cluster build fetches $ARGOCD_GO_TOOLCHAIN via GOTOOLCHAIN)"
  else need go "go$go_have is older than $go_wanted: https://go.dev/dl/"; fi
else need go "Go >= $go_wanted (FerretDB, kustomize, actionlint, the cluster): https://go.dev/dl/"; fi
if command -v mvn >/dev/null; then ok maven "$(command -v mvn)"; else
  need maven "Maven fetches the Kafka jars: apt-get install maven"
fi
java_home=${JAVA_HOME:-}
if [[ -z $java_home ]] && command -v java >/dev/null; then
  java_home=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
fi
if [[ -x $java_home/bin/java ]]; then
  java_major=$("$java_home/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p')
  if version_at_least "$java_major" 17; then ok jdk "Java $java_major at $java_home"; else
    need jdk "Java $java_major at $java_home; Kafka needs 17 or newer: apt-get install openjdk-17-jdk-headless"
  fi
else need jdk "a JDK 17+ (java on PATH or JAVA_HOME): apt-get install openjdk-17-jdk-headless"; fi
if command -v redis-server >/dev/null; then ok redis "$(redis-server --version | cut -d' ' -f1-3)"
elif command -v apt-get >/dev/null && { [[ $(id -u) == 0 ]] || command -v sudo >/dev/null; }; then
  ok apt "redis-server is missing; make stack installs it with apt-get"
else need redis "redis-server (make stack would use apt-get, which is not usable here): install Redis 7"; fi
for tool in git curl make openssl; do
  if command -v "$tool" >/dev/null; then ok "$tool" "$(command -v "$tool")"; else need "$tool" "apt-get install $tool"; fi
done
if command -v kubectl >/dev/null; then ok kubectl "$(command -v kubectl)"; else
  need kubectl "kubectl (make cluster, the GitOps loop): https://kubernetes.io/docs/tasks/tools/"
fi
if [[ -x $root/.venv/bin/python ]]; then ok venv "$root/.venv"; else warn venv "not yet made: make install does it (uv, about 1 min)"; fi

echo ">> ports (127.0.0.1): free, or held by this checkout's stack, pipeline or cluster"
ports=()
if [[ -x $root/.venv/bin/python ]]; then
  mapfile -t ports < <("$root/.venv/bin/python" -m votemon.dev ports)
else
  ports=("kafka 9092" "redis 6379" "ferretdb 27017" "grpc 50051" "front 8080" "results 8081")
fi
ports+=("kafka-controller ${KAFKA_CONTROLLER_PORT:-9093}")
# shellcheck source=cluster/cluster.env
source "$root/cluster/cluster.env"
for name in ETCD_CLIENT_PORT ETCD_PEER_PORT APISERVER_PORT KWOK_PORT ARGOCD_REDIS_PORT ARGOCD_REPO_SERVER_PORT \
  ARGOCD_SERVER_PORT GIT_DAEMON_PORT; do
  ports+=("cluster:${name%_PORT} ${!name}")
done
for entry in "${ports[@]}"; do
  read -r name port <<<"$entry"
  if holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -n1) && [[ -n $holder ]]; then
    warn "$name" "port $port in use by ${holder#users:((} (fine if it is this checkout's; else stop it)"
  else ok "$name" "port $port free"; fi
done

echo ">> disk"
free_gib=$(df -Pk "$root" | awk 'NR == 2 {print int($4 / 1048576)}')
if ((free_gib >= 10)); then ok disk "$free_gib GiB free at $root"; else
  need disk "$free_gib GiB free at $root: the venv, Kafka, FerretDB and the cluster's builds need about 10 GiB"
fi

if ((missing)); then echo ">> $missing missing: install them, then make install"; exit 1; fi
echo ">> this machine has what the project needs"

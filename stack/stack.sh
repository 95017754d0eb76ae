#!/usr/bin/env bash
# The local stack: Apache Kafka (KRaft, single node), Redis and FerretDB on loopback, no Docker.
#   stack/stack.sh up      install what is missing, start what is not running, wait until ready
#   stack/stack.sh down    stop what this script started
#   stack/stack.sh stop NAME...  SIGTERM one of kafka, redis, ferretdb (`up` starts it again)
#   stack/stack.sh kill NAME     SIGKILL it: a crash, for the fault tests
#   stack/stack.sh status  what runs where
#   stack/stack.sh users   make the Redis users' passwords that are missing; print their directory
# Data and logs live under .local/ (ignored by git). The ports are those of the settings
# (KAFKA_BOOTSTRAP_SERVERS, REDIS_URL, MONGO_URI: src/votemon/settings.py), the one place they live;
# KAFKA_CONTROLLER_PORT (default 9093) is the stack's own. The servers listen on Kafka's host
# (STACK_HOST, default 127.0.0.1); MONGO_URI on another host skips FerretDB.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
eval "$("$root/.venv/bin/python" -m votemon.dev stack-env)"
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
# shellcheck source=stack/lib.sh
source "$root/stack/lib.sh"
if [[ -z ${JAVA_HOME:-} ]]; then # the JDK of the java on PATH, whatever the architecture
  java=$(command -v java) || die "no java on PATH and no JAVA_HOME: \`make doctor\` says how to get a JDK 17+"
  JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$java")")")
fi
export JAVA_HOME

# --- Kafka -----------------------------------------------------------------------------------
kafka_jars=$root/stack/kafka/target/dependency

install_kafka() {
  [[ -f $kafka_jars/.complete ]] && return
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars"
  say "fetching Apache Kafka jars from Maven Central (first run only)"
  (cd "$root/stack/kafka" && mvn -B -ntp -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime \
    | sed -e 's/\x1b\[[0-9;]*m//g' | grep -E 'Downloaded|BUILD|ERROR' | sed 's/^/   /' | tail -n 5)
  touch "$kafka_jars/.complete"
}

up_kafka() {
  if running kafka; then say "kafka already running on $host:$KAFKA_PORT"; return; fi
  claim_port kafka "$KAFKA_PORT"
  claim_port kafka_controller "$KAFKA_CONTROLLER_PORT"
  local dir=$state/kafka config=$state/kafka/server.properties
  mkdir -p "$dir"
  sed -e "s#@DATA@#$dir/data#" -e "s#@HOST@#$host#g" -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
    "$root/stack/kafka/server.properties" >"$config"
  local java=(java -Xms512m -Xmx1g -Dlog4j2.configurationFile="$root/stack/kafka/log4j2.yaml"
    -Dkafka.logs.dir="$logs" -cp "$kafka_jars/*")
  if [[ ! -f $dir/data/meta.properties ]]; then
    say "formatting the Kafka log directory (KRaft)"
    "${java[@]}" kafka.tools.StorageTool format --standalone -t "$(cat "$root/stack/kafka/cluster-id")" \
      -c "$config" >"$logs/kafka-format.log" 2>&1 || die "Kafka storage format failed; see $logs/kafka-format.log"
  fi
  say "starting kafka on $host:$KAFKA_PORT"
  start kafka "${java[@]}" kafka.Kafka "$config"
}

# --- Redis -----------------------------------------------------------------------------------
redis_users=$root/base/redis/users.acl

redis_users_conf() { # the users of base/redis/users.acl as redis.conf lines; their passwords made once
  local dir=$STACK_REDIS_USERS keyword name
  mkdir -p "$dir" && chmod 700 "$dir"
  while read -r keyword name _; do
    [[ $keyword == user && ! -s $dir/$name ]] || continue
    (umask 077 && openssl rand -hex 16 >"$dir/$name")
  done <"$redis_users"
  (umask 077 && sh "$root/base/redis/render-users.sh" "$redis_users" "$dir" >"$state/redis/users.conf")
}

apply_redis_users() { # to a Redis started before them (an earlier stack): ACL SETUSER is idempotent
  local words reply auth=()
  if [[ -n ${REDIS_PASSWORD:-} ]]; then auth=(REDISCLI_AUTH="$REDIS_PASSWORD"); fi
  while read -r -a words; do
    reply=$(env "${auth[@]}" redis-cli -h "$host" -p "$REDIS_PORT" ACL SETUSER "${words[1]}" reset "${words[@]:2}")
    [[ $reply == OK ]] || die "redis: ACL SETUSER ${words[1]} answered: $reply"
  done <"$state/redis/users.conf"
}

up_redis() {
  mkdir -p "$state/redis"
  redis_users_conf
  if running redis; then
    say "redis already running on $host:$REDIS_PORT; setting its users"
    apply_redis_users
    return
  fi
  claim_port redis "$REDIS_PORT"
  say "starting redis on $host:$REDIS_PORT"
  # The counters and the consumer's offsets persist together: by default in an append-only file
  # fsynced every second; REDIS_PERSISTENCE=snapshot keeps only RDB snapshots (saved on shutdown
  # and on BGSAVE), so the fault tests can make a crash lose recent writes, as a lost node would.
  local persistence=(--appendonly yes --appendfsync everysec --save "")
  if [[ ${REDIS_PERSISTENCE:-aof} == snapshot ]]; then persistence=(--appendonly no --save "3600 1"); fi
  # A password (REDIS_PASSWORD, as the services read it) when one is set: the pods' instance has one.
  local auth=()
  if [[ -n ${REDIS_PASSWORD:-} ]]; then auth=(--requirepass "$REDIS_PASSWORD"); fi
  # The users (consumer, results, grafana) from the config file, in place before any client connects.
  start redis redis-server "$state/redis/users.conf" --bind "$host" --port "$REDIS_PORT" --dir "$state/redis" \
    "${persistence[@]}" "${auth[@]}" --daemonize no
}

# --- FerretDB --------------------------------------------------------------------------------
ferretdb_bin=$state/bin/ferretdb

install_ferretdb() {
  local src=$root/stack/ferretdb
  if [[ -x $ferretdb_bin && $ferretdb_bin -nt $src/go.sum && $ferretdb_bin -nt $src/main.go ]]; then return; fi
  say "building FerretDB v1.24.2 with go build (first run only, about 2 minutes)"
  (cd "$src" && go build -o "$ferretdb_bin" .)
}

up_ferretdb() {
  if running ferretdb; then say "ferretdb already running on $host:$MONGO_PORT"; return; fi
  claim_port mongo "$MONGO_PORT"
  say "starting ferretdb (MongoDB wire protocol, SQLite) on $host:$MONGO_PORT"
  start ferretdb "$ferretdb_bin" -listen "$host:$MONGO_PORT" -data-dir "$state/ferretdb"
}

use_ferretdb() { [[ $FERRETDB == 1 ]]; }

# --- commands --------------------------------------------------------------------------------
case ${1:-} in
  up)
    debian_install redis-server
    install_kafka
    if use_ferretdb; then install_ferretdb; fi
    up_redis
    up_kafka
    if use_ferretdb; then up_ferretdb; fi
    REDISCLI_AUTH=${REDIS_PASSWORD:-} wait_for redis 20 redis-cli -h "$host" -p "$REDIS_PORT" ping
    if use_ferretdb; then wait_for ferretdb 30 port_open "$MONGO_PORT"; fi
    wait_for kafka 90 port_open "$KAFKA_PORT"
    say "creating topics"
    "$root/.venv/bin/votemon" create-topics \
      || die "topic creation failed (is Kafka healthy? see $logs/kafka.log)"
    say "stack ready: kafka $host:$KAFKA_PORT, redis $host:$REDIS_PORT, mongo $host:$MONGO_PORT; logs in $logs"
    ;;
  down)
    for name in ferretdb kafka redis; do stop "$name"; done
    ;;
  stop)
    shift
    for name in "$@"; do stop "$name"; done
    ;;
  kill)
    running "${2:-}" || die "${2:-?} is not running"
    kill -9 "$(pid_of "$2")"
    rm -f "$run/$2.pid"
    ;;
  users) # the directory of the Redis users' passwords, each made if missing (cluster/node.sh's Secrets)
    mkdir -p "$state/redis"
    redis_users_conf
    echo "$STACK_REDIS_USERS"
    ;;
  status)
    for name in kafka redis ferretdb; do
      if running "$name"; then echo "$name: running (pid $(pid_of "$name"))"; else echo "$name: stopped"; fi
    done
    ;;
  *) echo "usage: $0 up|down|status|users|stop NAME...|kill NAME" >&2; exit 2 ;;
esac

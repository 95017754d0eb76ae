#!/usr/bin/env bash
# The local stack: Apache Kafka (KRaft, single node), Redis and FerretDB on loopback, no Docker.
#   stack/stack.sh up      install what is missing, start what is not running, wait until ready
#   stack/stack.sh down    stop what this script started
#   stack/stack.sh stop NAME...  SIGTERM one of kafka, redis, ferretdb (`up` starts it again)
#   stack/stack.sh kill NAME     SIGKILL it: a crash, for the fault tests
#   stack/stack.sh status  what runs where
#   stack/stack.sh users   make the Redis users' passwords that are missing; print their directory
#   stack/stack.sh kafka-credentials  the same for Kafka's users and CA (users/NAME, tls/ca.crt)
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
  [[ $kafka_jars/.complete -nt $root/stack/kafka/pom.xml ]] && return
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars"
  say "fetching Apache Kafka jars from Maven Central (first run only)"
  (cd "$root/stack/kafka" && mvn -B -ntp -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime \
    | sed -e 's/\x1b\[[0-9;]*m//g' | grep -E 'Downloaded|BUILD|ERROR' | sed 's/^/   /' | tail -n 5)
  touch "$kafka_jars/.complete"
}

kafka_dir=$state/kafka
kafka_users=$kafka_dir/users # a password file per SCRAM user (admin and base/kafka/users.yaml's) and the controller's
kafka_tls=$kafka_dir/tls     # ca.crt, which the clients trust, and the broker's server.pem
java_cp=(-Dlog4j2.configurationFile="$root/stack/kafka/log4j2.yaml" -Dkafka.logs.dir="$logs" -cp "$kafka_jars/*")

kafka_user_names() { echo admin; "$root/.venv/bin/python" -m votemon.dev.kafka_users users; }

kafka_credentials() {
  # Made once per stack: a password per user, and the controller's (a PLAIN user of the controller
  # listener, which cannot use SCRAM); a CA and the broker's certificate for $host and KAFKA_TLS_NAMES
  # (a Service's name, for cluster/node.sh's pods). Clients verify the broker against ca.crt.
  local name names extra
  mkdir -p "$kafka_users" "$kafka_tls" && chmod 700 "$kafka_users" "$kafka_tls"
  for name in $(kafka_user_names) controller; do
    [[ -s $kafka_users/$name ]] || (umask 077 && openssl rand -hex 16 >"$kafka_users/$name")
  done
  [[ -s $kafka_tls/server.pem ]] && return
  names="IP:$host"
  for extra in ${KAFKA_TLS_NAMES:-}; do names+=",DNS:$extra"; done
  (
    cd "$kafka_tls" && umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=votemon stack Kafka CA" -keyout ca.key -out ca.crt
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kafka" -keyout server.key -out server.csr
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile <(echo "subjectAltName=$names") -out server.crt
    cat server.key server.crt >server.pem
    chmod 644 ca.crt
  ) >"$logs/kafka-tls.log" 2>&1 || die "making Kafka's certificate failed; see $logs/kafka-tls.log"
}

kafka_config() { # server.properties, and admin.properties for Kafka's tools, with this stack's values
  local admin controller
  admin=$(cat "$kafka_users/admin") controller=$(cat "$kafka_users/controller")
  (umask 077 && sed -e "s#@DATA@#$kafka_dir/data#" -e "s#@HOST@#$host#g" -e "s#@PORT@#$KAFKA_PORT#g" \
    -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" -e "s#@TLS@#$kafka_tls#g" \
    -e "s#@ADMIN_PASSWORD@#$admin#g" -e "s#@CONTROLLER_PASSWORD@#$controller#g" \
    "$root/stack/kafka/server.properties" >"$kafka_dir/server.properties")
  (umask 077 && printf '%s\n' security.protocol=SASL_SSL sasl.mechanism=SCRAM-SHA-512 \
    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$admin\";" \
    ssl.truststore.type=PEM "ssl.truststore.location=$kafka_tls/ca.crt" >"$kafka_dir/admin.properties")
}

kafka_format() { # a new log directory, its SCRAM users in its first metadata (KRaft's way to have them at start)
  if [[ -f $kafka_dir/data/meta.properties && ! -f $kafka_dir/data/.users ]]; then
    say "the Kafka data predates its users (base/kafka/users.yaml): formatting it again, empty"
    rm -rf "$kafka_dir/data"
  fi
  [[ -f $kafka_dir/data/meta.properties ]] && return
  local name scram=()
  for name in $(kafka_user_names); do
    scram+=(--add-scram "SCRAM-SHA-512=[name=$name,password=$(cat "$kafka_users/$name")]")
  done
  say "formatting the Kafka log directory (KRaft) with its users"
  java "${java_cp[@]}" kafka.tools.StorageTool format --standalone -t "$(cat "$root/stack/kafka/cluster-id")" \
    -c "$kafka_dir/server.properties" "${scram[@]}" >"$logs/kafka-format.log" 2>&1 ||
    die "Kafka storage format failed; see $logs/kafka-format.log"
  touch "$kafka_dir/data/.users"
}

kafka_acls() { # base/kafka/users.yaml's ACLs through Kafka's kafka-acls, again when that file changed
  local applied=$kafka_dir/data/.acls wanted line arguments
  wanted=$(sha256sum <"$root/base/kafka/users.yaml")
  [[ -f $applied && $(cat "$applied") == "$wanted" ]] && return
  say "giving the Kafka users their ACLs (base/kafka/users.yaml)"
  local calls=() call # one kafka-acls per rule, all at once: each is mostly a JVM's start
  while read -r line; do
    read -r -a arguments <<<"$line"
    java -Xmx256m "${java_cp[@]}" org.apache.kafka.tools.AclCommand --bootstrap-server "$host:$KAFKA_PORT" \
      --command-config "$kafka_dir/admin.properties" --add "${arguments[@]}" >>"$logs/kafka-acls.log" 2>&1 &
    calls+=($!)
  done < <("$root/.venv/bin/python" -m votemon.dev.kafka_users acls)
  for call in "${calls[@]}"; do wait "$call" || die "kafka-acls failed; see $logs/kafka-acls.log"; done
  echo "$wanted" >"$applied"
}

up_kafka() {
  kafka_credentials
  if running kafka; then say "kafka already running on $host:$KAFKA_PORT"; return; fi
  claim_port kafka "$KAFKA_PORT"
  claim_port kafka_controller "$KAFKA_CONTROLLER_PORT"
  kafka_config
  kafka_format
  say "starting kafka on $host:$KAFKA_PORT (TLS; SCRAM users with ACLs)"
  start kafka java -Xms512m -Xmx1g "${java_cp[@]}" kafka.Kafka "$kafka_dir/server.properties"
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
    KAFKA_USERS_DIR=$kafka_users KAFKA_CA_FILE=$kafka_tls/ca.crt "$root/.venv/bin/votemon" create-topics \
      || die "topic creation failed (is Kafka healthy? see $logs/kafka.log)"
    kafka_acls
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
  kafka-credentials) # the directory of the Kafka users' passwords (users/) and CA (tls/ca.crt), made if missing
    kafka_credentials
    echo "$kafka_dir"
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
  *) echo "usage: $0 up|down|status|users|kafka-credentials|stop NAME...|kill NAME" >&2; exit 2 ;;
esac

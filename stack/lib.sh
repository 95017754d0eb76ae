# shellcheck shell=bash
# Shared by stack.sh and services.sh: background processes with pidfiles and logs under .local/.
# Expects $root (the repository) to be set by the sourcing script.
state=${STACK_DIR:-$root/.local}
run=$state/run
logs=$state/log
mkdir -p "$run" "$logs" "$state/bin"

say() { printf '>> %s\n' "$*"; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

running() { # name -> true when our pidfile names a live process
  local pidfile=$run/$1.pid
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

claim_port() { # name port: fail when another program already listens there
  if port_open "$2"; then
    die "port $2 for $1 is taken by another program (ss -ltnp 'sport = :$2'); set ${1^^}_PORT to another port"
  fi
}

wait_for() { # name seconds command...: poll until the command succeeds
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      die "$name exited while starting; its log: $logs/$name.log (last lines below)
$(tail -n 20 "$logs/$name.log" 2>/dev/null)"
    fi
    ((SECONDS < deadline)) || die "$name did not become ready in ${seconds}s; its log: $logs/$name.log"
    sleep 0.3
  done
}

start() { # name command...: run in the background with a pidfile and a log
  local name=$1; shift
  nohup "$@" >"$logs/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
}

stop() { # name: SIGTERM, then SIGKILL after 20 s
  local name=$1 pidfile=$run/$1.pid pid
  running "$name" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  say "stopping $name (pid $pid)"
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$pidfile"
}


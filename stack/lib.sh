# shellcheck shell=bash
# Shared by stack/stack.sh and cluster/: background processes with pidfiles and logs under .local/.
# A pidfile holds the PID and the process's start time, so a PID reused by another program is never
# taken for ours. Expects $root (the repository) to be set by the sourcing script.
state=${STACK_DIR:-$root/.local}
# The address the stack's servers listen on; another (the node's bridge, cluster/node.sh) for a second
# instance that pods reach.
host=${STACK_HOST:-127.0.0.1}
run=$state/run
logs=$state/log
mkdir -p "$run" "$logs" "$state/bin"

say() { printf '>> %s\n' "$*"; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

started_at() { # pid -> its start time (clock ticks after boot, /proc/PID/stat field 22)
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -ra fields <<<"${stat##*) }" # the fields after "PID (command) "; the command may hold spaces
  echo "${fields[19]}"
}

pid_of() { local pid; read -r pid _ <"$run/$1.pid"; echo "$pid"; }

running() { # name -> true when our pidfile names a live process, the one it recorded
  local pidfile=$run/$1.pid pid start
  [[ -f $pidfile ]] || return 1
  read -r pid start <"$pidfile"
  # a pidfile written before start times were recorded: the PID alone
  [[ -n $start ]] || { kill -0 "$pid" 2>/dev/null; return; }
  [[ $(started_at "$pid") == "$start" ]]
}

debian_install() { "$root/scripts/debian-install.sh" "$@"; } # package...: those missing, from Debian

port_open() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

claim_port() { # name port: fail when another program already listens there
  if port_open "$2"; then
    die "port $2 for $1 is taken by another program (ss -ltnp 'sport = :$2'); choose another port"
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
  (
    # Only stdin, stdout and stderr go along: a daemon that inherited the descriptor of a lock its
    # starter held (`flock LOCK make stack`) would hold that lock for as long as it runs.
    for fd in "/proc/$BASHPID/fd/"*; do
      fd=${fd##*/}
      if ((fd > 2)); then eval "exec $fd>&-"; fi
    done
    exec nohup "$@"
  ) >"$logs/$name.log" 2>&1 &
  echo "$! $(started_at $!)" >"$run/$name.pid"
}

stop() { # name: SIGTERM, then SIGKILL after 20 s
  local name=$1 pidfile=$run/$1.pid pid
  running "$name" || { rm -f "$pidfile"; return 0; }
  pid=$(pid_of "$name")
  say "stopping $name (pid $pid)"
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$pidfile"
}


#!/usr/bin/env bash
# The pipeline's own services, run locally with the same command their containers run (`votemon <service>`).
#   stack/services.sh up      start what is not running and wait until each answers /readyz
#   stack/services.sh down    SIGTERM each (they finish in-flight work), in the order data flows
# Settings come from the environment (see src/votemon/settings.py); defaults match stack/stack.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=stack/lib.sh
source "$root/stack/lib.sh"
votemon=$root/.venv/bin/votemon

# service -> the address of its /readyz
declare -A ready=(
  [grpc-server]=${GRPC_METRICS_BIND:-127.0.0.1:9101}
  [front]=${FRONT_BIND:-127.0.0.1:8080}
  [consumer]=${CONSUMER_METRICS_BIND:-127.0.0.1:9102}
  [results]=${RESULTS_BIND:-127.0.0.1:8081}
)
order=(grpc-server front consumer results)

is_ready() { curl -fsS -o /dev/null --max-time 2 "http://$1/readyz"; }

case ${1:-} in
  up)
    for service in "${order[@]}"; do
      if running "$service"; then say "$service already running"; continue; fi
      claim_port "$service" "${ready[$service]##*:}"
      say "starting $service"
      start "$service" "$votemon" "$service"
    done
    for service in "${order[@]}"; do
      wait_for "$service" 60 is_ready "${ready[$service]}"
    done
    say "pipeline ready: POST http://${ready[front]}/grpc, results http://${ready[results]}/api/totals"
    ;;
  down)
    for service in front grpc-server consumer results; do stop "$service"; done
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac

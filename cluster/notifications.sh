# shellcheck shell=bash
# Deploy feedback on the local cluster, sourced by cluster/up.sh after Argo CD is up: Argo CD's
# notifications controller (the same argocd binary) with argocd/notifications/local, sending to a
# webhook receiver (votemon.dev.notification_receiver) that answers what it got on GET /.
# Expects up.sh's environment (env.sh, stack/lib.sh, $root, $here) to be set.

up_notifications() {
  local receiver=http://127.0.0.1:$NOTIFICATION_RECEIVER_PORT/
  if ! running notification-receiver; then
    claim_port notification-receiver "$NOTIFICATION_RECEIVER_PORT"
    say "starting the notification receiver on $receiver"
    start notification-receiver "$root/.venv/bin/python" -m votemon.dev.notification_receiver \
      --port "$NOTIFICATION_RECEIVER_PORT"
  fi
  wait_for notification-receiver 30 http_ok "$receiver"
  # Its URL reaches the ConfigMap as $receiver-url, from the Secret install.yaml created.
  kubectl -n argocd patch secret argocd-notifications-secret --type merge \
    -p "{\"stringData\":{\"receiver-url\":\"$receiver\"}}" >/dev/null
  "$cluster_bin/kustomize" build "$root/argocd/notifications/local" |
    kubectl apply --server-side --field-manager=votemon-notifications -f - >/dev/null
  if ! running argocd-notifications; then
    claim_port argocd-notifications "$ARGOCD_NOTIFICATIONS_METRICS_PORT"
    say "starting argocd-notifications (deploy feedback to $receiver)"
    ARGOCD_BINARY_NAME=argocd-notifications start argocd-notifications argocd --namespace argocd \
      --argocd-repo-server "127.0.0.1:$ARGOCD_REPO_SERVER_PORT" --metrics-port "$ARGOCD_NOTIFICATIONS_METRICS_PORT" \
      --loglevel info
  fi
  wait_for argocd-notifications 60 http_ok "http://127.0.0.1:$ARGOCD_NOTIFICATIONS_METRICS_PORT/metrics"
}

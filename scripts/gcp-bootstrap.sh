#!/usr/bin/env bash
# The GCP side of the gke environment and of the Cloud Run results service, from an empty project,
# and the one command that points a fork's files at its own project, repository and registry.
#
#   scripts/gcp-bootstrap.sh configure   rewrite every placeholder in apps/, overlays/, cloudrun/, argocd/
#   scripts/gcp-bootstrap.sh gcp         create the network, cluster, addresses, DNS, accounts, image
#   scripts/gcp-bootstrap.sh ci          CI's identities (after the first deploy of the service)
#   scripts/gcp-bootstrap.sh edge        the public edge: SSL policy, Cloud Armor, managed certificate
#                                        and its map (what overlays/gke/edge names), and the results
#                                        service's load balancer behind them; idempotent
#   DRY_RUN=1 scripts/gcp-bootstrap.sh … print the commands (and files) instead of changing anything
#
# Placeholders a fork sets (environment variables; the defaults are upstream's values):
#   PROJECT          GCP project ID                        so1-p2-prod
#   REGION           region of everything                  us-central1
#   REPO_URL         git URL Argo CD syncs                 (apps/base/repository.yaml: unchanged if unset)
#   GHCR_OWNER       owner of ghcr.io/<owner>/votemon      so1-p2
#   NETWORK          VPC of the cluster and Cloud Run      so1-p2-vpc
#   CLUSTER_SUBNET   subnet of the nodes and the ILBs      so1-p2-gke       (CLUSTER_RANGE 10.10.0.0/20)
#   CLOUDRUN_SUBNET  Cloud Run Direct VPC egress subnet    so1-p2-cloudrun  (CLOUDRUN_RANGE 10.8.0.0/26)
#   REDIS_ILB_IP     reserved internal IP of redis-internal    10.10.0.50
#   AR_REPO          Artifact Registry repository          so1-p2 (the images workflow pushes there)
#   GITHUB_REPO      the GitHub repository whose workflows deploy   so1-p2/votemon
#   FRONT_HOST       the front's public name (the Gateway)  votes.so1-p2.example.org
#   RESULTS_HOST     the results page's public name         results.so1-p2.example.org
#   ADMIN_CIDRS      who may reach the cluster's API server (comma-separated CIDRs; `gcp` needs it)
# `configure` replaces upstream's values by these, once, on a fresh fork; commit the result.
set -euo pipefail

SCRIPTS=$(cd "$(dirname "$0")" && pwd)
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
DRY_RUN=${DRY_RUN:-0}
PROJECT=${PROJECT:-so1-p2-prod}
REGION=${REGION:-us-central1}
REPO_URL=${REPO_URL:-}
GHCR_OWNER=${GHCR_OWNER:-so1-p2}
NETWORK=${NETWORK:-so1-p2-vpc}
CLUSTER_SUBNET=${CLUSTER_SUBNET:-so1-p2-gke}
CLUSTER_RANGE=${CLUSTER_RANGE:-10.10.0.0/20}
CLOUDRUN_SUBNET=${CLOUDRUN_SUBNET:-so1-p2-cloudrun}
CLOUDRUN_RANGE=${CLOUDRUN_RANGE:-10.8.0.0/26}
REDIS_ILB_IP=${REDIS_ILB_IP:-10.10.0.50}
AR_REPO=${AR_REPO:-so1-p2}
GITHUB_REPO=${GITHUB_REPO:-so1-p2/votemon}
FRONT_HOST=${FRONT_HOST:-votes.so1-p2.example.org}
RESULTS_HOST=${RESULTS_HOST:-results.so1-p2.example.org}
ADMIN_CIDRS=${ADMIN_CIDRS:-}

CLUSTER=so1-p2
RESULTS_SA="so1-p2-results@$PROJECT.iam.gserviceaccount.com"
# The nodes' identity: GKE's minimal node role (logs, metrics), not the default compute account's
# project-wide Editor. The pods use Workload Identity, never this account.
NODES_SA="so1-p2-nodes@$PROJECT.iam.gserviceaccount.com"
IMAGE="$REGION-docker.pkg.dev/$PROJECT/$AR_REPO/votemon:bootstrap"
# The only secret the results service reads, its read-only Redis user's password: it never opens
# MongoDB, so it gets no Mongo credential.
RESULTS_SECRETS=(so1-p2-redis-results-password)
RESULTS_SERVICE=votemon-results
# CI's identities: one service account per workflow, each trusted only for its own workflow file on
# main (the deploy also only in the `production` environment, whose reviewers approve it).
IMAGES_SA="so1-p2-ci-images@$PROJECT.iam.gserviceaccount.com"
DEPLOY_SA="so1-p2-ci-deploy@$PROJECT.iam.gserviceaccount.com"
WIF_POOL=github
# The edge's names, as overlays/gke/edge writes them (tests/delivery checks they are the same).
SSL_POLICY=so1-p2-tls          # GCPGatewayPolicy sslPolicy
EDGE_POLICY=so1-p2-edge        # GCPBackendPolicy securityPolicy (Cloud Armor)
CERT_MAP=so1-p2-edge           # the Gateway's networking.gke.io/certmap
CERTIFICATE=so1-p2-edge
RESULTS_LB=so1-p2-results      # the results service's load balancer (its NEG, backend, URL map...)
HSTS="Strict-Transport-Security: max-age=31536000; includeSubDomains"

run() {
  if [[ $DRY_RUN == 1 ]]; then
    printf '%q ' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# Whether `gcloud ARGS` (a describe) finds something; a dry run finds nothing, so it prints every create.
exists() {
  [[ $DRY_RUN != 1 ]] && gcloud "$@" >/dev/null 2>&1
}

# ensure [--update] "GROUP" NAME [SCOPE...] -- [FLAGS...]: `gcloud GROUP create NAME SCOPE FLAGS` unless
# `gcloud GROUP describe NAME SCOPE` finds it; with --update, an existing one gets `update NAME SCOPE
# FLAGS` (its settings converge). So a second run creates nothing.
ensure() {
  local update=0
  [[ $1 == --update ]] && { update=1; shift; }
  local -a group scope=()
  read -ra group <<<"$1"
  local name=$2
  shift 2
  while [[ $# -gt 0 && $1 != -- ]]; do
    scope+=("$1")
    shift
  done
  [[ $# -gt 0 ]] && shift
  if exists "${group[@]}" describe "$name" "${scope[@]}"; then
    ((update)) && run gcloud "${group[@]}" update "$name" "${scope[@]}" "$@"
    return 0
  fi
  run gcloud "${group[@]}" create "$name" "${scope[@]}" "$@"
}

# upstream value -> fork value, in the files that hold it
replace() {
  local from=$1 to=$2
  shift 2
  [[ $from == "$to" ]] && return 0
  local file
  for file in "$@"; do
    grep -qF -- "$from" "$file" || continue
    if [[ $DRY_RUN == 1 ]]; then
      echo "$file: $from -> $to"
    else
      FROM=$from TO=$to perl -pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/g' "$file"
    fi
  done
}

configure() {
  cd "$ROOT"
  local overlays
  mapfile -t overlays < <(find overlays cloudrun argocd -name '*.yaml' | sort)
  if [[ -n $REPO_URL ]]; then
    # The repository is written once, in apps/base/repository.yaml; `scripts/gitops repository` edits it.
    run "$SCRIPTS/gitops" repository --root "$ROOT" --url "$REPO_URL"
  fi
  replace "so1-p2-prod" "$PROJECT" "${overlays[@]}"
  replace "ghcr.io/so1-p2/" "ghcr.io/$GHCR_OWNER/" "${overlays[@]}"
  replace "so1-p2-vpc" "$NETWORK" "${overlays[@]}"
  replace "so1-p2-cloudrun" "$CLOUDRUN_SUBNET" "${overlays[@]}"
  replace "10.8.0.0/26" "$CLOUDRUN_RANGE" "${overlays[@]}"
  replace "loadBalancerIP: 10.10.0.50" "loadBalancerIP: $REDIS_ILB_IP" overlays/gke/data/internal-lb.yaml
}

gcp() {
  if [[ -z $ADMIN_CIDRS ]]; then
    echo "gcp-bootstrap.sh gcp: set ADMIN_CIDRS, the addresses the operators reach the API server from" >&2
    echo "(e.g. ADMIN_CIDRS=203.0.113.0/24); Argo CD runs inside the cluster and needs none" >&2
    exit 2
  fi
  run gcloud config set project "$PROJECT"
  run gcloud services enable compute.googleapis.com container.googleapis.com dns.googleapis.com \
    secretmanager.googleapis.com iamcredentials.googleapis.com run.googleapis.com \
    artifactregistry.googleapis.com cloudbuild.googleapis.com
  # The VPC: nodes and internal load balancers in one subnet, Cloud Run's egress in another, and
  # Cloud NAT so private nodes reach the internet (Grafana fetches redis-datasource from grafana.com).
  run gcloud compute networks create "$NETWORK" --subnet-mode=custom
  run gcloud compute networks subnets create "$CLUSTER_SUBNET" --network="$NETWORK" --region="$REGION" \
    --range="$CLUSTER_RANGE" --enable-private-ip-google-access
  run gcloud compute networks subnets create "$CLOUDRUN_SUBNET" --network="$NETWORK" --region="$REGION" \
    --range="$CLOUDRUN_RANGE" --enable-private-ip-google-access
  run gcloud compute routers create so1-p2-router --network="$NETWORK" --region="$REGION"
  run gcloud compute routers nats create so1-p2-nat --router=so1-p2-router --region="$REGION" \
    --auto-allocate-nat-external-ips --nat-all-subnet-ip-ranges
  run gcloud iam service-accounts create so1-p2-nodes --display-name="so1-p2 GKE nodes"
  run gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$NODES_SA" \
    --role=roles/container.defaultNodeServiceAccount --condition=None
  # Private nodes; the API server answers only the operators' networks (Argo CD is inside); nodes
  # boot verified (Shielded secure boot) as the minimal account above.
  run gcloud container clusters create "$CLUSTER" --region="$REGION" --release-channel=regular \
    --network="$NETWORK" --subnetwork="$CLUSTER_SUBNET" --enable-ip-alias \
    --enable-private-nodes --master-ipv4-cidr=172.16.0.0/28 \
    --enable-master-authorized-networks --master-authorized-networks="$ADMIN_CIDRS" \
    --service-account="$NODES_SA" --shielded-secure-boot --shielded-integrity-monitoring \
    --workload-pool="$PROJECT.svc.id.goog" --enable-dataplane-v2 --gateway-api=standard \
    --machine-type=e2-standard-4 --num-nodes=1
  run gcloud container clusters get-credentials "$CLUSTER" --region="$REGION"
  # A fixed address for Redis's internal load balancer (loadBalancerIP in internal-lb.yaml)...
  run gcloud compute addresses create so1-p2-redis-ilb --region="$REGION" --subnet="$CLUSTER_SUBNET" \
    --addresses="$REDIS_ILB_IP"
  # ...and the name Cloud Run uses for it (REDIS_URL in cloudrun/results.yaml).
  run gcloud dns managed-zones create votemon-internal --dns-name=votemon.internal. \
    --visibility=private --networks="$NETWORK" --description="so1-p2 internal load balancers"
  run gcloud dns record-sets create redis.votemon.internal. --zone=votemon-internal --type=A \
    --ttl=300 --rrdatas="$REDIS_ILB_IP"
  # Cloud Run's runtime identity, allowed to read exactly its one secret (README step 2 creates it).
  run gcloud iam service-accounts create so1-p2-results --display-name="so1-p2 results (Cloud Run)"
  local secret
  for secret in "${RESULTS_SECRETS[@]}"; do
    run gcloud secrets add-iam-policy-binding "$secret" --member="serviceAccount:$RESULTS_SA" \
      --role=roles/secretmanager.secretAccessor
  done
  # The registry Cloud Run deploys from, and a first image in it.
  run gcloud artifacts repositories create "$AR_REPO" --repository-format=docker --location="$REGION"
  run gcloud builds submit "$ROOT" --tag="$IMAGE"
  echo "first image: $IMAGE (set it in cloudrun/results.yaml, or run the images workflow)"
}

# The workflow file's identity in GitHub's OIDC token (job_workflow_ref), on main.
workflow_ref() { echo "$GITHUB_REPO/.github/workflows/$1@refs/heads/main"; }

# Workload Identity Federation for GitHub Actions: the provider accepts a token only from this
# repository's main branch and only from the two workflows that deploy, the cloudrun one only in
# the `production` environment; each workflow may impersonate its own service account, which holds
# the narrowest role on the one resource it touches (docs/security.md).
ci_identity() {
  local number=${PROJECT_NUMBER:-}
  if [[ -z $number ]]; then
    if [[ $DRY_RUN == 1 ]]; then number="<number>"; else
      number=$(gcloud projects describe "$PROJECT" --format='value(projectNumber)')
    fi
  fi
  local images deploy condition pool
  images=$(workflow_ref images.yml)
  deploy=$(workflow_ref cloudrun.yml)
  condition="assertion.repository == '$GITHUB_REPO' && assertion.ref == 'refs/heads/main' && ("
  condition+="assertion.job_workflow_ref == '$images' || (assertion.job_workflow_ref == '$deploy'"
  condition+=" && assertion.sub == 'repo:$GITHUB_REPO:environment:production'))"
  pool="principalSet://iam.googleapis.com/projects/$number/locations/global/workloadIdentityPools/$WIF_POOL"
  run gcloud iam workload-identity-pools create "$WIF_POOL" --location=global
  run gcloud iam workload-identity-pools providers create-oidc github --location=global \
    --workload-identity-pool="$WIF_POOL" --issuer-uri=https://token.actions.githubusercontent.com \
    --attribute-mapping=google.subject=assertion.sub,attribute.repository=assertion.repository,attribute.job_workflow_ref=assertion.job_workflow_ref \
    --attribute-condition="$condition"
  run gcloud iam service-accounts create so1-p2-ci-images --display-name="so1-p2 CI: images workflow"
  run gcloud iam service-accounts create so1-p2-ci-deploy --display-name="so1-p2 CI: cloudrun workflow"
  run gcloud iam service-accounts add-iam-policy-binding "$IMAGES_SA" --role=roles/iam.workloadIdentityUser \
    --member="$pool/attribute.job_workflow_ref/$images"
  run gcloud iam service-accounts add-iam-policy-binding "$DEPLOY_SA" --role=roles/iam.workloadIdentityUser \
    --member="$pool/attribute.job_workflow_ref/$deploy"
  # images: push (and sign, attest) to the one Artifact Registry repository.
  run gcloud artifacts repositories add-iam-policy-binding "$AR_REPO" --location="$REGION" \
    --member="serviceAccount:$IMAGES_SA" --role=roles/artifactregistry.writer
  # cloudrun: update the one service (run.developer cannot change who may invoke it), running as
  # its own runtime account.
  run gcloud run services add-iam-policy-binding "$RESULTS_SERVICE" --region="$REGION" \
    --member="serviceAccount:$DEPLOY_SA" --role=roles/run.developer
  run gcloud iam service-accounts add-iam-policy-binding "$RESULTS_SA" \
    --member="serviceAccount:$DEPLOY_SA" --role=roles/iam.serviceAccountUser
  echo "set the repository variables GCP_WORKLOAD_IDENTITY_PROVIDER=projects/$number/locations/global/workloadIdentityPools/$WIF_POOL/providers/github,"
  echo "GCP_IMAGES_SERVICE_ACCOUNT=$IMAGES_SA and GCP_DEPLOY_SERVICE_ACCOUNT=$DEPLOY_SA"
}

# The public edge (docs/internet-safety.md#the-edge-on-gke): what overlays/gke/edge names, and the
# results service (Cloud Run, ingress internal-and-cloud-load-balancing) behind the same certificate,
# SSL policy and Cloud Armor policy on a load balancer of its own.
edge() {
  run gcloud services enable certificatemanager.googleapis.com compute.googleapis.com
  # TLS 1.2 or later, MODERN ciphers (the Gateway's GCPGatewayPolicy and the results proxy).
  ensure --update "compute ssl-policies" "$SSL_POLICY" --global -- --profile=MODERN --min-tls-version=1.2
  # Cloud Armor: /metrics never answers from outside; per client IP, over 600 requests a minute get
  # 429, and over 3,000 in 5 minutes ban the address for 10 minutes.
  ensure "compute security-policies" "$EDGE_POLICY" -- --type=CLOUD_ARMOR \
    --description="so1-p2 public edge: per-IP rate limit and ban"
  ensure --update "compute security-policies rules" 900 --security-policy="$EDGE_POLICY" -- \
    --expression="request.path.startsWith('/metrics')" --action=deny-404 \
    --description="metrics stay inside the cluster"
  ensure --update "compute security-policies rules" 1000 --security-policy="$EDGE_POLICY" -- \
    --src-ip-ranges="*" --action=rate-based-ban --enforce-on-key=IP \
    --rate-limit-threshold-count=600 --rate-limit-threshold-interval-sec=60 \
    --ban-threshold-count=3000 --ban-threshold-interval-sec=300 --ban-duration-sec=600 \
    --conform-action=allow --exceed-action=deny-429 --description="per-IP rate limit and ban"
  # One Google-managed certificate for both names, authorized by DNS (it renews with no key in git),
  # and the map the Gateway's annotation and the results proxy name.
  ensure "certificate-manager dns-authorizations" so1-p2-front -- --domain="$FRONT_HOST"
  ensure "certificate-manager dns-authorizations" so1-p2-results -- --domain="$RESULTS_HOST"
  ensure "certificate-manager certificates" "$CERTIFICATE" -- --domains="$FRONT_HOST,$RESULTS_HOST" \
    --dns-authorizations=so1-p2-front,so1-p2-results
  ensure "certificate-manager maps" "$CERT_MAP"
  ensure "certificate-manager maps entries" so1-p2-front --map="$CERT_MAP" -- \
    --hostname="$FRONT_HOST" --certificates="$CERTIFICATE"
  ensure "certificate-manager maps entries" so1-p2-results --map="$CERT_MAP" -- \
    --hostname="$RESULTS_HOST" --certificates="$CERTIFICATE"
  # The results service: serverless NEG -> backend service (Cloud Armor, logs, HSTS) -> URL map ->
  # HTTPS proxy (the map and the SSL policy) on :443, and :80 answering 301 to https.
  ensure "compute addresses" "$RESULTS_LB" --global
  ensure "compute network-endpoint-groups" "$RESULTS_LB" --region="$REGION" -- \
    --network-endpoint-type=serverless --cloud-run-service="$RESULTS_SERVICE"
  if ! exists compute backend-services describe "$RESULTS_LB" --global; then
    run gcloud compute backend-services create "$RESULTS_LB" --global --load-balancing-scheme=EXTERNAL_MANAGED
    run gcloud compute backend-services add-backend "$RESULTS_LB" --global \
      --network-endpoint-group="$RESULTS_LB" --network-endpoint-group-region="$REGION"
  fi
  run gcloud compute backend-services update "$RESULTS_LB" --global --security-policy="$EDGE_POLICY" \
    --enable-logging --logging-sample-rate=1 --custom-response-header="$HSTS"
  ensure "compute url-maps" "$RESULTS_LB" --global -- --default-service="$RESULTS_LB"
  ensure --update "compute target-https-proxies" "$RESULTS_LB" --global -- --url-map="$RESULTS_LB" \
    --certificate-map="$CERT_MAP" --ssl-policy="$SSL_POLICY"
  ensure "compute forwarding-rules" "$RESULTS_LB-https" --global -- --load-balancing-scheme=EXTERNAL_MANAGED \
    --address="$RESULTS_LB" --target-https-proxy="$RESULTS_LB" --ports=443
  if ! exists compute url-maps describe "$RESULTS_LB-redirect" --global; then
    # a here-document, not a pipe: a reader that exits early would end a writer with SIGPIPE (141)
    run gcloud compute url-maps import "$RESULTS_LB-redirect" --global --source=/dev/stdin --quiet <<YAML
name: $RESULTS_LB-redirect
defaultUrlRedirect:
  httpsRedirect: true
  redirectResponseCode: MOVED_PERMANENTLY_DEFAULT
YAML
  fi
  ensure "compute target-http-proxies" "$RESULTS_LB-redirect" --global -- --url-map="$RESULTS_LB-redirect"
  ensure "compute forwarding-rules" "$RESULTS_LB-http" --global -- --load-balancing-scheme=EXTERNAL_MANAGED \
    --address="$RESULTS_LB" --target-http-proxy="$RESULTS_LB-redirect" --ports=80
  echo "DNS: $FRONT_HOST -> the Gateway's address (kubectl -n so1-p2 get gateway votemon), $RESULTS_HOST ->"
  echo "the address $RESULTS_LB, and each CNAME of: gcloud certificate-manager dns-authorizations describe so1-p2-front|so1-p2-results"
}

case ${1:-} in
  configure) configure ;;
  gcp) gcp ;;
  ci) ci_identity ;;
  edge) edge ;;
  *)
    sed -n '2,26p' "$0"
    exit 2
    ;;
esac

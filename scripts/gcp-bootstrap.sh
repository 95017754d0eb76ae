#!/usr/bin/env bash
# The GCP side of the gke environment and of the Cloud Run results service, from an empty project,
# and the one command that points a fork's files at its own project, repository and registry.
#
#   scripts/gcp-bootstrap.sh configure   rewrite every placeholder in apps/, overlays/, cloudrun/, argocd/
#   scripts/gcp-bootstrap.sh gcp         create the network, cluster, addresses, DNS, accounts, image
#   DRY_RUN=1 scripts/gcp-bootstrap.sh … print the commands (and files) instead of changing anything
#
# Placeholders a fork sets (environment variables; the defaults are upstream's values):
#   PROJECT          GCP project ID                        so1-p2-prod
#   REGION           region of everything                  us-central1
#   REPO_URL         git URL Argo CD syncs (apps/, 6x)     https://github.com/so1-p2/votemon.git
#   GHCR_OWNER       owner of ghcr.io/<owner>/votemon      so1-p2
#   NETWORK          VPC of the cluster and Cloud Run      so1-p2-vpc
#   CLUSTER_SUBNET   subnet of the nodes and the ILBs      so1-p2-gke       (CLUSTER_RANGE 10.10.0.0/20)
#   CLOUDRUN_SUBNET  Cloud Run Direct VPC egress subnet    so1-p2-cloudrun  (CLOUDRUN_RANGE 10.8.0.0/26)
#   REDIS_ILB_IP     reserved internal IP of redis-internal    10.10.0.50
#   MONGODB_ILB_IP   reserved internal IP of mongodb-internal  10.10.0.51
#   AR_REPO          Artifact Registry repository          so1-p2 (the images workflow pushes there)
# `configure` replaces upstream's values by these, once, on a fresh fork; commit the result.
set -euo pipefail

ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
DRY_RUN=${DRY_RUN:-0}
PROJECT=${PROJECT:-so1-p2-prod}
REGION=${REGION:-us-central1}
REPO_URL=${REPO_URL:-https://github.com/so1-p2/votemon.git}
GHCR_OWNER=${GHCR_OWNER:-so1-p2}
NETWORK=${NETWORK:-so1-p2-vpc}
CLUSTER_SUBNET=${CLUSTER_SUBNET:-so1-p2-gke}
CLUSTER_RANGE=${CLUSTER_RANGE:-10.10.0.0/20}
CLOUDRUN_SUBNET=${CLOUDRUN_SUBNET:-so1-p2-cloudrun}
CLOUDRUN_RANGE=${CLOUDRUN_RANGE:-10.8.0.0/26}
REDIS_ILB_IP=${REDIS_ILB_IP:-10.10.0.50}
MONGODB_ILB_IP=${MONGODB_ILB_IP:-10.10.0.51}
AR_REPO=${AR_REPO:-so1-p2}

CLUSTER=so1-p2
RESULTS_SA="so1-p2-results@$PROJECT.iam.gserviceaccount.com"
IMAGE="$REGION-docker.pkg.dev/$PROJECT/$AR_REPO/votemon:bootstrap"
DATASTORE_SECRETS=(so1-p2-redis-password so1-p2-mongodb-username so1-p2-mongodb-password)

run() {
  if [[ $DRY_RUN == 1 ]]; then
    printf '%q ' "$@"
    printf '\n'
  else
    "$@"
  fi
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
  local apps overlays
  mapfile -t apps < <(find apps -name '*.yaml' | sort)
  mapfile -t overlays < <(find overlays cloudrun argocd -name '*.yaml' | sort)
  replace "https://github.com/so1-p2/votemon.git" "$REPO_URL" "${apps[@]}"
  replace "so1-p2-prod" "$PROJECT" "${overlays[@]}"
  replace "ghcr.io/so1-p2/" "ghcr.io/$GHCR_OWNER/" "${overlays[@]}"
  replace "so1-p2-vpc" "$NETWORK" "${overlays[@]}"
  replace "so1-p2-cloudrun" "$CLOUDRUN_SUBNET" "${overlays[@]}"
  replace "10.8.0.0/26" "$CLOUDRUN_RANGE" "${overlays[@]}"
  replace "loadBalancerIP: 10.10.0.50" "loadBalancerIP: $REDIS_ILB_IP" overlays/gke/data/internal-lb.yaml
  replace "loadBalancerIP: 10.10.0.51" "loadBalancerIP: $MONGODB_ILB_IP" overlays/gke/data/internal-lb.yaml
}

gcp() {
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
  run gcloud container clusters create "$CLUSTER" --region="$REGION" --release-channel=regular \
    --network="$NETWORK" --subnetwork="$CLUSTER_SUBNET" --enable-ip-alias \
    --enable-private-nodes --master-ipv4-cidr=172.16.0.0/28 \
    --workload-pool="$PROJECT.svc.id.goog" --enable-dataplane-v2 --gateway-api=standard \
    --machine-type=e2-standard-4 --num-nodes=1
  run gcloud container clusters get-credentials "$CLUSTER" --region="$REGION"
  # Fixed addresses for the two internal load balancers (loadBalancerIP in internal-lb.yaml)...
  run gcloud compute addresses create so1-p2-redis-ilb --region="$REGION" --subnet="$CLUSTER_SUBNET" \
    --addresses="$REDIS_ILB_IP"
  run gcloud compute addresses create so1-p2-mongodb-ilb --region="$REGION" --subnet="$CLUSTER_SUBNET" \
    --addresses="$MONGODB_ILB_IP"
  # ...and the names Cloud Run uses for them (REDIS_URL, MONGO_URI in cloudrun/results.yaml).
  run gcloud dns managed-zones create votemon-internal --dns-name=votemon.internal. \
    --visibility=private --networks="$NETWORK" --description="so1-p2 internal load balancers"
  run gcloud dns record-sets create redis.votemon.internal. --zone=votemon-internal --type=A \
    --ttl=300 --rrdatas="$REDIS_ILB_IP"
  run gcloud dns record-sets create mongodb.votemon.internal. --zone=votemon-internal --type=A \
    --ttl=300 --rrdatas="$MONGODB_ILB_IP"
  # Cloud Run's runtime identity, allowed to read exactly its three secrets (README step 2 creates them).
  run gcloud iam service-accounts create so1-p2-results --display-name="so1-p2 results (Cloud Run)"
  local secret
  for secret in "${DATASTORE_SECRETS[@]}"; do
    run gcloud secrets add-iam-policy-binding "$secret" --member="serviceAccount:$RESULTS_SA" \
      --role=roles/secretmanager.secretAccessor
  done
  # The registry Cloud Run deploys from, and a first image in it.
  run gcloud artifacts repositories create "$AR_REPO" --repository-format=docker --location="$REGION"
  run gcloud builds submit "$ROOT" --tag="$IMAGE"
  echo "first image: $IMAGE (set it in cloudrun/results.yaml, or run the images workflow)"
}

case ${1:-} in
  configure) configure ;;
  gcp) gcp ;;
  *)
    sed -n '2,20p' "$0"
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Deploy every Cloud Run service file (Knative serving.knative.dev/v1 Service YAML) in cloudrun/.
#   GCP_PROJECT_ID=... GCP_REGION=... scripts/delivery/deploy_cloudrun.sh [FILE...]
# Needs an authenticated gcloud (CI: Workload Identity Federation). `replace` is declarative: the
# file is the whole service, so what is in git is what runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${GCP_PROJECT_ID:?set GCP_PROJECT_ID}" "${GCP_REGION:?set GCP_REGION}"
shopt -s nullglob
files=("$@")
((${#files[@]})) || files=(cloudrun/*.yaml cloudrun/*.yml)
((${#files[@]})) || { echo "deploy_cloudrun: no service files in cloudrun/" >&2; exit 1; }
for file in "${files[@]}"; do
  echo ">> gcloud run services replace $file"
  gcloud run services replace "$file" --project "$GCP_PROJECT_ID" --region "$GCP_REGION" --quiet
done

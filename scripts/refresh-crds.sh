#!/usr/bin/env bash
# Re-fetches the CRDs in schemas/crds/ (the schemas the offline validation checks custom resources
# against) from package registries, at the versions the manifests install, and rewrites
# schemas/crds/README.md with each file's source, version and licence.
#   scripts/refresh-crds.sh
# The operator versions are read from where they are pinned: the Helm charts' targetRevision in
# apps/*/*.yaml (Strimzi, External Secrets, KEDA) and ARGOCD_VERSION in cluster/versions.env. The
# APIs that GKE and Cloud Run provide themselves are pinned here.
# Needs go (Go module zips hold most CRDs), mvn and a Java >= 21 (Strimzi publishes no CRD YAML: its
# CRDs are generated from the io.strimzi:api classes by io.strimzi:crd-generator, as its build does).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cluster/versions.env
source cluster/versions.env
GATEWAY_API_VERSION=v1.7.0 # the Gateway API standard channel (GKE installs the CRDs itself)
KNATIVE_SERVING_VERSION=v0.51.0 # serving.knative.dev/v1, the Service YAML Cloud Run accepts
GMP_VERSION=v0.17.2 # Google Managed Prometheus (GKE installs the CRDs itself)
out=schemas/crds
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

chart_version() { # chart name -> its targetRevision in apps/ (apps/base, or the environment's own)
  awk -v chart="$1" '$1 == "chart:" && $2 == chart {found=1} found && $1 == "targetRevision:" {print $2; exit}' \
    apps/*/*.yaml
}
STRIMZI_VERSION=$(chart_version strimzi-kafka-operator)
ESO_VERSION=v$(chart_version external-secrets)
KEDA_VERSION=v$(chart_version keda)
[[ -n $STRIMZI_VERSION && $ESO_VERSION != v && $KEDA_VERSION != v ]] || {
  echo "refresh-crds: a chart version was not found in apps/" >&2
  exit 1
}

rows=()
module_dir() { # module@version -> the directory of its downloaded zip
  GOTOOLCHAIN=$ARGOCD_GO_TOOLCHAIN GOFLAGS=-mod=mod go mod download -json "$1" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error")))'
}
from_module() { # module version directory-in-module [source-file:dest-file]...
  local module=$1 version=$2 sub=$3 dir pair
  shift 3
  dir=$(module_dir "$module@$version")
  for pair in "$@"; do
    install -m 0644 "$dir/$sub/${pair%%:*}" "$out/${pair#*:}"
    rows+=("| ${pair#*:} | Go module \`$module\` $sub/${pair%%:*} | $version | Apache-2.0 |")
  done
}

rm -rf "$out" && mkdir -p "$out"
echo ">> Go modules"
from_module github.com/argoproj/argo-cd/v3 "$ARGOCD_VERSION" manifests/crds \
  application-crd.yaml:argocd-application-crd.yaml applicationset-crd.yaml:argocd-applicationset-crd.yaml \
  appproject-crd.yaml:argocd-appproject-crd.yaml
from_module github.com/external-secrets/external-secrets "$ESO_VERSION" config/crds/bases \
  external-secrets.io_clustersecretstores.yaml:external-secrets.io_clustersecretstores.yaml \
  external-secrets.io_externalsecrets.yaml:external-secrets.io_externalsecrets.yaml \
  external-secrets.io_secretstores.yaml:external-secrets.io_secretstores.yaml \
  generators.external-secrets.io_passwords.yaml:generators.external-secrets.io_passwords.yaml
from_module github.com/kedacore/keda/v2 "$KEDA_VERSION" config/crd/bases \
  keda.sh_scaledobjects.yaml:keda-keda.sh_scaledobjects.yaml \
  keda.sh_triggerauthentications.yaml:keda-keda.sh_triggerauthentications.yaml
from_module sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION" config/crd/standard \
  gateway.networking.k8s.io_gateways.yaml:gateway.networking.k8s.io_gateways.yaml \
  gateway.networking.k8s.io_grpcroutes.yaml:gateway.networking.k8s.io_grpcroutes.yaml \
  gateway.networking.k8s.io_httproutes.yaml:gateway.networking.k8s.io_httproutes.yaml
from_module knative.dev/serving "$KNATIVE_SERVING_VERSION" config/core/300-resources \
  service.yaml:knative-serving-service.yaml
from_module github.com/GoogleCloudPlatform/prometheus-engine "$GMP_VERSION" charts/operator/crds \
  monitoring.googleapis.com_podmonitorings.yaml:monitoring.googleapis.com_podmonitorings.yaml

echo ">> Strimzi $STRIMZI_VERSION (generated from io.strimzi:api with io.strimzi:crd-generator)"
java=""
for candidate in ${JAVA:-} java /usr/lib/jvm/*/bin/java; do
  major=$("$candidate" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1) || continue
  if [[ -n $major ]] && ((major >= 21)); then java=$candidate && break; fi
done
[[ -n $java ]] || { echo "refresh-crds: crd-generator $STRIMZI_VERSION needs Java >= 21 (set JAVA)" >&2; exit 1; }
cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>votemon</groupId><artifactId>strimzi-crds</artifactId><version>0</version>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$STRIMZI_VERSION</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$STRIMZI_VERSION</version></dependency>
  </dependencies>
</project>
EOF
(cd "$work" && mvn -B -q dependency:build-classpath -Dmdep.outputFile=classpath.txt)
strimzi=(kafka.Kafka:040-Crd-kafka topic.KafkaTopic:043-Crd-kafkatopic user.KafkaUser:044-Crd-kafkauser
  nodepool.KafkaNodePool:045-Crd-kafkanodepool)
targets=()
for pair in "${strimzi[@]}"; do
  targets+=("io.strimzi.api.kafka.model.${pair%%:*}=$out/strimzi-${pair#*:}.yaml")
  rows+=("| strimzi-${pair#*:}.yaml | Maven \`io.strimzi:api\` + \`io.strimzi:crd-generator\` (io.strimzi.api.kafka.model.${pair%%:*}) | $STRIMZI_VERSION | Apache-2.0 |")
done
# The arguments of the CrdGenerator run in io.strimzi:api's own pom (packaging/install/cluster-operator).
"$java" -cp "$(cat "$work/classpath.txt")" io.strimzi.crdgenerator.CrdGenerator \
  --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ --crd-api-version v1 \
  --api-versions v1 --storage-version v1 --yaml "${targets[@]}"

{
  cat <<'EOF'
# CRD schemas for the offline validation

Upstream CustomResourceDefinitions, at the versions the manifests install, against which
`python -m votemon.gitops.validate` (`scripts/gitops validate`) checks every custom resource the overlays render (Kubernetes' own kinds
come from `kubernetes-validate`). Written by `scripts/refresh-crds.sh`, which fetches them again from
the package registries: run it after bumping a chart in `apps/` or `ARGOCD_VERSION` in
`cluster/versions.env` (a test fails while the versions below differ from those pins).

Strimzi publishes no CRD YAML in a registry: its CRDs are generated by `io.strimzi:crd-generator`
from the `io.strimzi:api` classes, with the arguments of Strimzi's own build. External Secrets 1.1.0 is
not on the Go module proxy; 1.3.2 is, so the chart is pinned at 1.3.2 and validated against 1.3.2.

| file | source | version | licence |
|---|---|---|---|
EOF
  printf '%s\n' "${rows[@]}"
} >"$out/README.md"
echo ">> $(find "$out" -name '*.yaml' | wc -l) CRDs in $out"

#!/usr/bin/env bash
# Builds helm or promtool from pinned Go modules (nothing prebuilt can be downloaded on the
# machines this project targets), stamped with their versions as their own release builds are.
#
# Usage: hack/helm-tools.sh helm v3.22.0 bin/helm-v3.22.0
#        hack/helm-tools.sh promtool v0.316.0 bin/promtool-v0.316.0
#
# helm: helm.sh/helm/v3/cmd/helm, with the Kubernetes version helm assumes for `helm template`
# and `helm lint` (its kubeVersion checks and API deprecations) set from the client-go it is built
# with, as helm's Makefile does (a plain `go install` would assume Kubernetes 1.20).
# promtool: github.com/prometheus/prometheus/cmd/promtool (module version v0.MMN.P is Prometheus
# M.MN.P, e.g. v0.316.0 is 3.16.0), built with the tag remove_all_sd: without the cloud service
# discovery plugins, which rule checks and tests never use, the build is a third shorter.
set -euo pipefail
tool="$1" version="$2" out="$3"
log() { echo "helm-tools: $*" >&2; }
gobin="$(mktemp -d)"
trap 'rm -rf "${gobin}"' EXIT
export CGO_ENABLED=0
start=$(date +%s)
case "${tool}" in
helm)
  mod=helm.sh/helm/v3
  gomod="$(go mod download -json "${mod}@${version}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  client_go="$(awk '$1=="k8s.io/client-go"{print $2; exit}' "${gomod}")"   # v0.37.0
  minor="$(cut -d. -f2 <<<"${client_go}")"
  [[ -n "${minor}" ]] || { log "cannot find k8s.io/client-go in ${mod}@${version}'s go.mod"; exit 1; }
  ldflags="-s -w -X ${mod}/internal/version.version=${version} -X ${mod}/internal/version.gitTreeState=clean"
  for pkg in pkg/lint/rules pkg/chartutil; do
    ldflags+=" -X ${mod}/${pkg}.k8sVersionMajor=1 -X ${mod}/${pkg}.k8sVersionMinor=${minor}"
  done
  log "building helm ${version} (Kubernetes 1.${minor}; cold: about 1 to 3 minutes on 2 cores)"
  GOBIN="${gobin}" go install -trimpath -ldflags "${ldflags}" "${mod}/cmd/helm@${version}"
  mv "${gobin}/helm" "${out}"
  ;;
promtool)
  mod=github.com/prometheus/prometheus
  n="$(cut -d. -f2 <<<"${version}")" patch="$(cut -d. -f3 <<<"${version}")"
  if (( n >= 300 )); then release="$((n / 100)).$((n % 100)).${patch}"; else release="2.${n}.${patch}"; fi
  ldflags="-s -w -X github.com/prometheus/common/version.Version=${release}"
  ldflags+=" -X github.com/prometheus/common/version.Branch=HEAD -X github.com/prometheus/common/version.Revision=${version}"
  log "building promtool ${release} (${mod}@${version}; cold: about 2 to 5 minutes on 2 cores)"
  GOBIN="${gobin}" go install -trimpath -tags remove_all_sd -ldflags "${ldflags}" "${mod}/cmd/promtool@${version}"
  mv "${gobin}/promtool" "${out}"
  ;;
*)
  log "unknown tool ${tool} (helm or promtool)"; exit 2 ;;
esac
log "built ${out} in $(( $(date +%s) - start )) s"

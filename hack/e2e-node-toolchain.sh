#!/usr/bin/env bash
# Builds the node half of the e2e cluster (kubelet, kube-controller-manager, kube-scheduler,
# kube-proxy) from pinned Go modules, the same way hack/envtest-toolchain.sh builds
# kube-apiserver and kubectl: a throwaway module requiring k8s.io/kubernetes at KUBE_VERSION with
# every ./staging/src/k8s.io/X replace turned into its published k8s.io/X v0.N.P release.
#
# Usage: hack/e2e-node-toolchain.sh [DIR]    (prints DIR)
# Skipped when DIR already holds the four binaries at the pinned version (well under a second).
# Cold: about 10 minutes on 2 cores (kubelet alone about 3.5 min); shares the Go build cache with
# hack/envtest-toolchain.sh, so after it most of the packages are already compiled.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.1}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
NODE_DIR="${1:-${E2E_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/auth0-operator/e2e-node/${KUBE_VERSION}}}"
BINS=(kubelet kube-controller-manager kube-scheduler kube-proxy)
STAMP="${NODE_DIR}/.built"
WANT_STAMP="kubernetes=${KUBE_VERSION} bins=${BINS[*]}"

log() { echo "e2e-node-toolchain: $*" >&2; }

ok=1
for b in "${BINS[@]}"; do [[ -x "${NODE_DIR}/${b}" ]] || ok=0; done
if [[ ${ok} == 1 && -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT_STAMP}" ]]; then
  echo "${NODE_DIR}"
  exit 0
fi

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
mkdir -p "${NODE_DIR}"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0
start=$(date +%s)

log "building ${BINS[*]} ${KUBE_VERSION} (cold: about 10 minutes on 2 cores)"
cd "${WORK}"
go mod init e2e.local/node >/dev/null 2>&1
kube_gomod="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
go_directive="$(awk '$1=="go"{print $2; exit}' "${kube_gomod}")"
go mod edit -go="${go_directive}" -require="k8s.io/kubernetes@${KUBE_VERSION}"
while read -r mod; do
  go mod edit -replace="${mod}=${mod}@${STAGING_VERSION}"
done < <(awk '$2=="=>" && $3 ~ /^\.\/staging\// {print $1}' "${kube_gomod}")
pkgs=()
for b in "${BINS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/${b}@${KUBE_VERSION}"); done
go get "${pkgs[@]}" >&2

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
  ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
done
for b in "${BINS[@]}"; do
  log "go build ${b}"
  go build -trimpath -ldflags "${ldflags}" -o "${NODE_DIR}/${b}" "k8s.io/kubernetes/cmd/${b}"
done

echo "${WANT_STAMP}" > "${STAMP}"
log "done in $(( $(date +%s) - start ))s: $("${NODE_DIR}/kubelet" --version)"
echo "${NODE_DIR}"

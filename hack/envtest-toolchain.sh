#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver, etcd, kubectl) from pinned Go modules.
#
# No prebuilt binary can be downloaded on the machines this project targets, so the binaries are
# compiled from source through the Go module proxy:
#   - kube-apiserver and kubectl from k8s.io/kubernetes, in a throwaway module that replaces each
#     staging module (k8s.io/api => ./staging/src/k8s.io/api, ...) with its published release,
#     since the relative replaces in kubernetes' own go.mod are ignored when it is a dependency;
#   - etcd from go.etcd.io/etcd/server/v3, in a second throwaway module so that its dependency
#     versions cannot shift the apiserver's.
#
# Usage: hack/envtest-toolchain.sh [DIR]     (prints DIR, suitable for KUBEBUILDER_ASSETS)
# The build is skipped when DIR already holds all three binaries at the pinned versions, so a
# second run takes well under a second.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.1}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.8}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
ASSETS_DIR="${1:-${ENVTEST_ASSETS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/auth0-operator/envtest/${KUBE_VERSION}-etcd-${ETCD_VERSION}}}"
STAMP="${ASSETS_DIR}/.built"
WANT_STAMP="kubernetes=${KUBE_VERSION} etcd=${ETCD_VERSION}"

log() { echo "envtest-toolchain: $*" >&2; }

if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT_STAMP}" \
   && -x "${ASSETS_DIR}/kube-apiserver" && -x "${ASSETS_DIR}/etcd" && -x "${ASSETS_DIR}/kubectl" ]]; then
  echo "${ASSETS_DIR}"
  exit 0
fi

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
mkdir -p "${ASSETS_DIR}"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0
start=$(date +%s)

# --- kube-apiserver and kubectl -------------------------------------------------------------
log "building kube-apiserver and kubectl ${KUBE_VERSION} (cold: about 8 minutes on 2 cores)"
mkdir -p "${WORK}/kube"
cd "${WORK}/kube"
go mod init envtest.local/kube >/dev/null 2>&1
kube_gomod="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
go_directive="$(awk '$1=="go"{print $2; exit}' "${kube_gomod}")"
go mod edit -go="${go_directive}" -require="k8s.io/kubernetes@${KUBE_VERSION}"
# Every "k8s.io/X => ./staging/src/k8s.io/X" becomes "k8s.io/X => k8s.io/X v0.N.P".
while read -r mod; do
  go mod edit -replace="${mod}=${mod}@${STAGING_VERSION}"
done < <(awk '$2=="=>" && $3 ~ /^\.\/staging\// {print $1}' "${kube_gomod}")
go get "k8s.io/kubernetes/cmd/kube-apiserver@${KUBE_VERSION}" "k8s.io/kubernetes/cmd/kubectl@${KUBE_VERSION}" >&2

# The same version stamps kubernetes' own build (hack/lib/version.sh) writes, so that
# `kube-apiserver --version` and `kubectl version --client` report the real release.
minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
  ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
done
go build -trimpath -ldflags "${ldflags}" -o "${ASSETS_DIR}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
go build -trimpath -ldflags "${ldflags}" -o "${ASSETS_DIR}/kubectl" k8s.io/kubernetes/cmd/kubectl

# --- etcd -----------------------------------------------------------------------------------
log "building etcd ${ETCD_VERSION}"
mkdir -p "${WORK}/etcd"
cd "${WORK}/etcd"
go mod init envtest.local/etcd >/dev/null 2>&1
cat > main.go <<'GO'
// Command etcd is etcd's own entry point (go.etcd.io/etcd/v3's main.go), built from the server module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2
go mod tidy >&2
go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=release-${ETCD_VERSION}" -o "${ASSETS_DIR}/etcd" .

echo "${WANT_STAMP}" > "${STAMP}"
log "done in $(( $(date +%s) - start ))s: $("${ASSETS_DIR}/kube-apiserver" --version), etcd $("${ASSETS_DIR}/etcd" --version | head -1)"
echo "${ASSETS_DIR}"

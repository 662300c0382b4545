#!/usr/bin/env bash
# Builds the manager from exactly the paths the Dockerfile's builder stage COPYs (minus what
# .dockerignore leaves out), without a container engine: a path the build needs and the
# Dockerfile forgets fails here instead of in `make docker-build`.
set -euo pipefail
cd "$(dirname "$0")/.."
ctx="$(mktemp -d)"
trap 'rm -rf "${ctx}"' EXIT
# Source paths of every COPY in the first (builder) stage, up to the second FROM.
paths="$(awk '/^FROM /{n++} n==1 && /^COPY / && !/--from=/{for(i=2;i<NF;i++) print $i}' Dockerfile)"
[[ -n "${paths}" ]] || { echo "no COPY found in the Dockerfile's builder stage" >&2; exit 1; }
for p in ${paths}; do
  git ls-files -z -- "${p}" | while IFS= read -r -d '' f; do
    case "${f}" in *_test.go) continue ;; esac   # .dockerignore: **/*_test.go
    mkdir -p "${ctx}/$(dirname "${f}")"; cp "${f}" "${ctx}/${f}"
  done
done
# The package the builder stage builds: the last word of its `go build` line.
pkg="$(awk '/^FROM /{n++} n==1 && /go build/{print $NF}' Dockerfile)"
(cd "${ctx}" && CGO_ENABLED=0 go build -o /dev/null "${pkg}")
echo "the manager builds from the Dockerfile's COPY paths: ${paths//$'\n'/ }"

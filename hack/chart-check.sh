#!/usr/bin/env bash
# Fails when the Helm chart's copies of config/ are stale (make chart-check; `make manifests` has
# run first): runs `chartgen sync` and fails if it changed anything under charts/ or
# config/prometheus/, then, in a git work tree, if anything there is modified or untracked with
# respect to what is committed (a chart that is current but not committed is stale for CI).
# Set CHART_CHECK_GIT=0 to skip the second check (a work tree with uncommitted chart changes).
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(charts config/prometheus)
snapshot() { find "${paths[@]}" -type f -print0 | sort -z | xargs -0 sha256sum; }

before="$(snapshot)"
go run ./hack/chartgen sync
after="$(snapshot)"
if [[ "${before}" != "${after}" ]]; then
  diff <(echo "${before}") <(echo "${after}") | sed -n 's/^[<>] [0-9a-f]*  /  /p' | sort -u >&2 || true
  echo "chart-check: the chart was stale (chart-sync changed the files above): run 'make chart-sync' and commit" >&2
  exit 1
fi

if [[ "${CHART_CHECK_GIT:-1}" != 0 ]] && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  status="$(git status --porcelain --untracked-files=all -- "${paths[@]}")"
  if [[ -n "${status}" ]]; then
    echo "${status}" >&2
    echo "chart-check: the chart differs from what is committed (above): commit it (CHART_CHECK_GIT=0 skips this check)" >&2
    exit 1
  fi
fi
echo "chart-check: the chart is in step with config/"

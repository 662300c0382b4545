#!/usr/bin/env bash
# Checks config/prometheus with promtool (make prometheus-test):
#   - the alert rules parse and pass their unit tests (config/prometheus/tests, promtool test rules);
#   - every query of the Grafana dashboard is valid PromQL (each is checked as a recording rule,
#     Grafana's $__rate_interval and $namespace replaced by values);
#   - every auth0_operator_* series the rules and the dashboard use is one internal/metrics
#     defines, and the dashboard shows every one it defines (a renamed metric fails here, not
#     silently in production).
# Usage: PROMTOOL=bin/promtool-vX hack/promtool-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PROMTOOL="${PROMTOOL:?set PROMTOOL to the promtool binary (make prometheus-test builds it)}"
dir=config/prometheus
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

echo "--- promtool check rules ${dir}/auth0-operator.rules.yaml"
"${PROMTOOL}" check rules "${dir}/auth0-operator.rules.yaml"
echo "--- promtool test rules ${dir}/tests/*.yaml"
"${PROMTOOL}" test rules "${dir}"/tests/*.yaml

echo "--- the dashboard's queries and the metric names"
python3 - "${dir}/dashboard.json" "${dir}/auth0-operator.rules.yaml" internal/metrics/metrics.go "${tmp}/dashboard.rules.json" <<'PY'
import json, re, sys
dashboard_path, rules_path, metrics_go, out = sys.argv[1:]
dash = json.load(open(dashboard_path))
exprs = []
def walk(panels):
    for p in panels:
        walk(p.get("panels", []))
        for t in p.get("targets", []):
            if t.get("expr"):
                exprs.append((p.get("title", "?"), t["expr"]))
walk(dash.get("panels", []))
if not exprs:
    sys.exit("dashboard.json: no queries")
subst = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$namespace": ".*"}
rules = []
for i, (title, e) in enumerate(exprs):
    for k, v in subst.items():
        e = e.replace(k, v)
    if "$" in e:
        sys.exit(f"dashboard.json: panel {title!r}: unknown variable in {e}")
    rules.append({"record": f"dashboard:query_{i}", "expr": e, "labels": {"panel": title}})
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(out, "w"), indent=1)

src = open(metrics_go).read()
defined = set(re.findall(r'Name:\s*"(auth0_operator_\w+)"', src)) | set(re.findall(r'NewDesc\(\s*"(auth0_operator_\w+)"', src))
if not defined:
    sys.exit(f"{metrics_go}: no auth0_operator_* metric found")
def used(text):
    names = set(re.findall(r"auth0_operator_\w+", text))
    return {re.sub(r"_(bucket|sum|count)$", "", n) if re.sub(r"_(bucket|sum|count)$", "", n) in defined else n for n in names}
problems = []
for path, text in ((rules_path, open(rules_path).read()), (dashboard_path, json.dumps([e for _, e in exprs]))):
    for n in sorted(used(text) - defined):
        problems.append(f"{path} uses {n}, which {metrics_go} does not define")
for n in sorted(defined - used(json.dumps([e for _, e in exprs]))):
    problems.append(f"{dashboard_path} has no panel for {n} ({metrics_go})")
if problems:
    sys.exit("\n".join(problems))
print(f"{len(exprs)} dashboard queries; metrics used and defined: {', '.join(sorted(defined))}")
PY
"${PROMTOOL}" check rules "${tmp}/dashboard.rules.json"

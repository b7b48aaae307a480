#!/usr/bin/env bash
# Proves each deploy check fails when it should: every case feeds a check a known-good
# input with one deliberate defect and expects a non-zero exit and the right message.
# The good inputs themselves must pass first, so a failure is the defect's doing.
#
#   deploy/ci/test_checks.sh      (run deploy/check.sh once first, or let this install
#                                  kubernetes-validate the same way)
set -euo pipefail

CI="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEPLOY="$(dirname "$CI")"
VENV="${KUBESAGE_VENV:-$HOME/.cache/kubesage/venv}"
if ! "$VENV/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'kubernetes-validate==1.37.0' 'pyyaml>=6'
fi
PY="$VENV/bin/python"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
METRICS="$CI/fixtures/metrics.sample.txt"
passed=0 failed=0

# expect_pass NAME CMD... / expect_fail NAME PATTERN CMD...
expect_pass() {
  local name="$1"; shift
  if "$@" >"$T/out" 2>&1; then
    echo "ok   - $name"; passed=$((passed + 1))
  else
    echo "FAIL - $name: the good input was rejected"; sed 's/^/       /' "$T/out"; failed=$((failed + 1))
  fi
}
expect_fail() {
  local name="$1" pattern="$2"; shift 2
  if "$@" >"$T/out" 2>&1; then
    echo "FAIL - $name: the check passed a broken input"; failed=$((failed + 1))
  elif grep -qE -- "$pattern" "$T/out"; then
    echo "ok   - $name: $(grep -m1 -E -- "$pattern" "$T/out" | cut -c1-150)"; passed=$((passed + 1))
  else
    echo "FAIL - $name: failed without /$pattern/"; sed 's/^/       /' "$T/out"; failed=$((failed + 1))
  fi
}

# mutate OUT PYTHON: OUT = good.yaml with PYTHON applied to `docs` (list of objects).
mutate() {
  "$PY" - "$T/good.yaml" "$1" "$2" <<'EOF'
import sys, yaml
src, out, code = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(src)) if d]
find = lambda kind, name: next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
container = lambda name: find("Deployment", name)["spec"]["template"]["spec"]["containers"][0]
exec(code)
yaml.safe_dump_all(docs, open(out, "w"))
EOF
}

kubectl kustomize "$DEPLOY/kustomize/overlays/prod" >"$T/good.yaml"
cp -r "$DEPLOY/grafana/dashboards" "$T/dash"
DASH="$T/dash/kubesage-pipeline-health.json"

echo "# manifests"
expect_pass "rendered prod overlay passes policy" "$PY" "$CI/policy.py" "$T/good.yaml"
expect_pass "rendered prod overlay passes kubernetes-validate" "$PY" "$CI/validate.py" "$T/good.yaml"

mutate "$T/secret.yaml" 'docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kafka", "namespace": "kubesage"}, "stringData": {"password": "hunter2"}})'
expect_fail "plain Secret with stringData" "Secret with data" "$PY" "$CI/policy.py" "$T/secret.yaml"
mutate "$T/secret2.yaml" 'docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kafka", "namespace": "kubesage"}, "data": {"password": "aHVudGVyMg=="}})'
expect_fail "plain Secret with data" "Secret with data" "$PY" "$CI/policy.py" "$T/secret2.yaml"

mutate "$T/root.yaml" 'container("kubesage-operate")["securityContext"]["runAsUser"] = 0'
expect_fail "container running as root" "runs as root" "$PY" "$CI/policy.py" "$T/root.yaml"
mutate "$T/maybe-root.yaml" 'd = find("Deployment", "kubesage-execute")["spec"]["template"]["spec"]; d["securityContext"].pop("runAsNonRoot"); d["securityContext"].pop("runAsUser")'
expect_fail "container that may run as root" "may run as root" "$PY" "$CI/policy.py" "$T/maybe-root.yaml"

mutate "$T/nolimits.yaml" 'container("kubesage-collect")["resources"].pop("limits")'
expect_fail "container without limits" "no memory limit" "$PY" "$CI/policy.py" "$T/nolimits.yaml"

mutate "$T/noprobe.yaml" 'container("kubesage-operate").pop("readinessProbe")'
expect_fail "Deployment without readiness probe" "has no readinessProbe" "$PY" "$CI/policy.py" "$T/noprobe.yaml"
mutate "$T/noliveness.yaml" 'container("kubesage-collect").pop("livenessProbe")'
expect_fail "Deployment without liveness probe" "has no livenessProbe" "$PY" "$CI/policy.py" "$T/noliveness.yaml"

mutate "$T/tag.yaml" 'container("kubesage-collect")["image"] = "registry.example.com/kubesage/kubesage:latest"'
expect_fail "image not pinned by digest" "not pinned by digest" "$PY" "$CI/policy.py" "$T/tag.yaml"

mutate "$T/scope.yaml" 'docs.remove(next(d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["namespace"] == "payments"))'
expect_fail "executor RoleBindings differ from allowed_namespaces" "allowed_namespaces" "$PY" "$CI/policy.py" "$T/scope.yaml"

mutate "$T/schema.yaml" 'find("Deployment", "kubesage-collect")["spec"]["replica"] = 2'
expect_fail "unknown field (strict schema)" "replica' was unexpected" "$PY" "$CI/validate.py" "$T/schema.yaml"

echo "# dashboards, rules, metrics"
expect_pass "dashboards and rules pass with a complete /metrics" \
  "$PY" "$CI/promql.py" check --dashboards "$T/dash" --rules "$DEPLOY/prometheus/rules.yaml" --metrics "$METRICS"

"$PY" - "$DASH" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); d["panels"][1]["targets"][0]["expr"] = "sum(rate(kubesage_runtime_errors_total[$__rate_interval])"
json.dump(d, open(sys.argv[1], "w"))
EOF
expect_fail "dashboard panel with bad PromQL" "PromQL does not parse" \
  "$PY" "$CI/promql.py" check --dashboards "$T/dash" --rules "$DEPLOY/prometheus/rules.yaml"

cp "$DEPLOY/grafana/dashboards/kubesage-pipeline-health.json" "$DASH"
"$PY" - "$DASH" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); d["panels"][1]["targets"][0]["expr"] = "sum(rate(kubesage_runtime_events_dropped_total[$__rate_interval]))"
json.dump(d, open(sys.argv[1], "w"))
EOF
expect_fail "dashboard panel with an unknown metric" "kubesage_runtime_events_dropped_total is not in" \
  "$PY" "$CI/promql.py" check --dashboards "$T/dash" --rules "$DEPLOY/prometheus/rules.yaml" --metrics "$METRICS"

cp "$DEPLOY/grafana/dashboards/kubesage-pipeline-health.json" "$DASH"
echo '{"title": "broken", "panels": [' >"$T/dash/broken.json"
expect_fail "dashboard that is not JSON" "does not parse as JSON" \
  "$PY" "$CI/promql.py" check --dashboards "$T/dash" --rules "$DEPLOY/prometheus/rules.yaml"
rm "$T/dash/broken.json"

grep -v 'kubesage_runtime_late_events' "$METRICS" >"$T/metrics.txt"
expect_fail "metric a dashboard uses missing from /metrics" "kubesage_runtime_late_events_total is not in" \
  "$PY" "$CI/promql.py" check --dashboards "$T/dash" --rules "$DEPLOY/prometheus/rules.yaml" --metrics "$T/metrics.txt"

sed -E 's/(kubesage_runtime_assigned_partitions[^)]*\)) == 0$/\1 === 0/' \
  "$DEPLOY/prometheus/rules.yaml" >"$T/rules.yaml"
cmp -s "$DEPLOY/prometheus/rules.yaml" "$T/rules.yaml" && { echo "test_checks: rules.yaml mutation did not apply" >&2; exit 2; }
expect_fail "alert rule with bad PromQL (promtool check rules)" "parse|unexpected" promtool check rules "$T/rules.yaml"
expect_fail "alert rule with bad PromQL (promql.py)" "PromQL does not parse" \
  "$PY" "$CI/promql.py" check --dashboards "$T/dash" --rules "$T/rules.yaml"

sed 's/> 300$/> 600/' "$DEPLOY/prometheus/prometheusrule.yaml" >"$T/prometheusrule.yaml"
expect_fail "PrometheusRule drifted from rules.yaml" "differs from" \
  "$PY" "$CI/promql.py" sync-rules --wrapper "$T/prometheusrule.yaml"

expect_pass "promtool check metrics passes the real scrape as served" "$PY" "$CI/promql.py" lint-metrics "$METRICS"
printf '# HELP foo Foos.\n# TYPE foo counter\nfoo_total 1\n# EOF\n' >"$T/openmetrics.txt"
expect_pass "OpenMetrics input is converted before promtool check metrics" "$PY" "$CI/promql.py" lint-metrics "$T/openmetrics.txt"
printf '# TYPE foo counter\nfoo_total 1\n' >"$T/lint.txt"
expect_fail "promtool check metrics lint problem" "no help text" "$PY" "$CI/promql.py" lint-metrics "$T/lint.txt"

echo "# check.sh end to end"
mkdir "$T/repo" && cp -r "$DEPLOY" "$T/repo/deploy"
cat >"$T/repo/deploy/kustomize/base/secret.yaml" <<'EOF'
apiVersion: v1
kind: Secret
metadata: {name: kafka-creds, namespace: kubesage}
stringData: {password: hunter2}
EOF
sed -i 's/^resources:$/resources:\n  - secret.yaml/' "$T/repo/deploy/kustomize/base/kustomization.yaml"
expect_fail "check.sh fails on a Secret committed to the base" "FAILED: policy" bash "$T/repo/deploy/check.sh"

echo
echo "test_checks: $passed passed, $failed failed"
[[ $failed -eq 0 ]]

#!/usr/bin/env bash
# Checks everything under deploy/: renders every overlay, validates it, runs the
# policy, dashboard, PromQL and rule checks. Safe to run again and again.
#
#   deploy/check.sh [METRICS_FILE]
#
# METRICS_FILE (argument or env): text scraped from a running kubesage's /metrics.
# With it, every metric the dashboards, rules and KEDA triggers use must exist there,
# and `promtool check metrics` lints it. Without it those two checks are skipped.
# KUBESAGE_BIN (env): a kubesage binary; with it (or one in target/), every overlay's
# kubesage.toml goes through `kubesage validate`. K8S_VERSION: schema version (1.30).
# Needs kubectl (kustomize), promtool, python3; installs PyPI kubernetes-validate into
# $HOME/.cache/kubesage/venv when missing.
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$DEPLOY")"
METRICS_FILE="${1:-${METRICS_FILE:-}}"
K8S_VERSION="${K8S_VERSION:-1.30}"
VENV="${KUBESAGE_VENV:-$HOME/.cache/kubesage/venv}"
OVERLAYS=(dev staging prod)

for tool in kubectl promtool python3; do
  command -v "$tool" >/dev/null || { echo "check.sh: $tool is required" >&2; exit 2; }
done

if ! "$VENV/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
  echo "== installing kubernetes-validate into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'kubernetes-validate==1.37.0' 'pyyaml>=6'
fi
PY="$VENV/bin/python"

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
passed=0 failed=0 skipped=0
failures=()

# step NAME CMD...: runs CMD, counts it, keeps going after a failure.
step() {
  local name="$1"; shift
  echo "== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failures+=("$name")
    echo "!! $name FAILED"
  fi
}
skip() {
  echo "== $1: SKIPPED ($2)"
  skipped=$((skipped + 1))
}

render() {
  for o in "${OVERLAYS[@]}"; do
    kubectl kustomize "$DEPLOY/kustomize/overlays/$o" >"$OUT/$o.yaml" || return 1
    echo "rendered overlays/$o: $(grep -c '^kind:' "$OUT/$o.yaml") objects"
  done
  kubectl kustomize "$DEPLOY/argocd/apps" >"$OUT/argocd-apps.yaml" || return 1
  cp "$DEPLOY/argocd/root-app.yaml" "$OUT/argocd-root.yaml"
  echo "rendered argocd/apps and argocd/root-app.yaml"
}
RENDERED=()
step "render every overlay (kubectl kustomize)" render
for o in "${OVERLAYS[@]}"; do RENDERED+=("$OUT/$o.yaml"); done
RENDERED+=("$OUT/argocd-apps.yaml" "$OUT/argocd-root.yaml")

if [[ $failed -eq 0 ]]; then
  step "kubernetes-validate, strict, offline, k8s $K8S_VERSION" \
    "$PY" "$DEPLOY/ci/validate.py" -k "$K8S_VERSION" "${RENDERED[@]}"
  step "policy (secrets, root, limits, probes, digests, executor scope)" \
    "$PY" "$DEPLOY/ci/policy.py" "${RENDERED[@]}"
fi

KUBESAGE_BIN="${KUBESAGE_BIN:-}"
for candidate in "$REPO/target/release/kubesage" "$REPO/target/debug/kubesage"; do
  [[ -z "$KUBESAGE_BIN" && -x "$candidate" ]] && KUBESAGE_BIN="$candidate"
done
validate_configs() {
  local f rc=0
  for f in "$DEPLOY/kustomize/base/kubesage.toml" "$DEPLOY"/kustomize/overlays/*/kubesage.toml; do
    echo "kubesage validate --config ${f#"$DEPLOY"/}"
    "$KUBESAGE_BIN" validate --config "$f" || rc=1
  done
  return $rc
}
if [[ -n "$KUBESAGE_BIN" ]]; then
  step "kubesage validate on every kubesage.toml" validate_configs
else
  skip "kubesage validate on every kubesage.toml" "no KUBESAGE_BIN and no target/*/kubesage"
fi

step "promtool check rules" promtool check rules "$DEPLOY/prometheus/rules.yaml"
step "PrometheusRule wrapper matches rules.yaml" "$PY" "$DEPLOY/ci/promql.py" sync-rules

k8s_args=()
for o in "${OVERLAYS[@]}"; do [[ -s "$OUT/$o.yaml" ]] && k8s_args+=(--k8s "$OUT/$o.yaml"); done
metrics_args=()
if [[ -n "$METRICS_FILE" ]]; then
  [[ -r "$METRICS_FILE" ]] || { echo "check.sh: cannot read METRICS_FILE $METRICS_FILE" >&2; exit 2; }
  metrics_args=(--metrics "$METRICS_FILE")
fi
step "dashboards parse, every PromQL expression parses${METRICS_FILE:+, every metric exists}" \
  env METRICS_FILE= "$PY" "$DEPLOY/ci/promql.py" check --rules "$DEPLOY/prometheus/rules.yaml" \
  "${k8s_args[@]}" "${metrics_args[@]}"
if [[ -n "$METRICS_FILE" ]]; then
  step "promtool check metrics" "$PY" "$DEPLOY/ci/promql.py" lint-metrics "$METRICS_FILE"
else
  skip "metrics exist on /metrics + promtool check metrics" "no METRICS_FILE given"
fi

if command -v amtool >/dev/null; then
  step "amtool check-config (Alertmanager example)" amtool check-config "$DEPLOY/alertmanager/alertmanager.example.yml"
else
  skip "amtool check-config (Alertmanager example)" "amtool not installed"
fi

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "deploy: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
